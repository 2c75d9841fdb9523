"""The agent's Grafana dashboards as code (grafana-foundation-sdk), written to mixin/dashboards_out/
by scripts/generate_mixin.py: fleet.py, host.py and delivery.py each build one dashboard from the
shared pieces of common.py."""
