"""Alerting: rules over collected series, the alert lifecycle, silences and inhibition. Imported
only when the agent runs with detection or alerting enabled (see plugins._FACTORIES)."""
