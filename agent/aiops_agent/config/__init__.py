"""Configuration: a typed schema (schema.py), loading with file/line provenance (loader.py)."""

from aiops_agent.config.errors import ConfigError
from aiops_agent.config.loader import load_config
from aiops_agent.config.schema import Config

__all__ = ["Config", "ConfigError", "load_config"]
