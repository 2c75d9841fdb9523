"""Helpers shared by the integration tests: `from tests.helpers.agentproc import running_agent`."""
