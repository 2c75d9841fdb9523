"""The vocabulary every other package shares: the metric model, series naming, label matchers,
times, the alert event, listen addresses, logging and the state files. It imports nothing from the
rest of the agent (tests/unit/test_layers.py checks; docs/architecture.md has the plan)."""
