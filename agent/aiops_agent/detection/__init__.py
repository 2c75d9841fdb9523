"""Anomaly detection: learned per-series baselines."""
