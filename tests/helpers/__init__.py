"""Helpers shared by the integration tests (import with tests/ on sys.path: `from helpers...`)."""
