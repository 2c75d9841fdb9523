"""aiops-agent: a lean host-monitoring agent with anomaly detection and alerting at the edge."""

__version__ = "0.1.0"
