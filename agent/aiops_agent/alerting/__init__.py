"""Alerting: the alert lifecycle (pending, firing, resolved), silences, inhibition, the alert and
silence API and the hand-off to notify/, as the plugin that runs detection/ after each collection.
Imported only when the agent runs with detection or alerting enabled (see pluginhost.py)."""
