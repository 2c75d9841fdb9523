"""Each role's meta/argument_specs.yml documents exactly the variables of its defaults/main.yml,
with the same defaults, a description and a type that accepts the default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE_NAMES = sorted(
    p.parent.parent.name
    for p in ROLES.glob("*/meta/argument_specs.yml")
    if (p.parent.parent / "defaults" / "main.yml").is_file()
)
# Roles held to the stricter checks too (every option has its default, a known type, the prefix).
STRICT_ROLES = [r for r in ROLE_NAMES if r in ("aiops_agent", "aiops_agent_config")]
TYPES = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
    "float": (float, int),
    "raw": (object,),
}


def _load(role: str) -> tuple[dict, dict]:
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return defaults, specs["argument_specs"]["main"].get("options", {})


def test_roles_found():
    assert "aiops_agent" in ROLE_NAMES
    assert "aiops_agent_config" in ROLE_NAMES


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_specs_match_defaults_key_for_key(role):
    defaults, options = _load(role)
    assert sorted(defaults) == sorted(options), (
        f"{role}: only in defaults: {sorted(set(defaults) - set(options))}; "
        f"only in argument_specs: {sorted(set(options) - set(defaults))}"
    )


@pytest.mark.parametrize("role", STRICT_ROLES)
def test_spec_defaults_types_and_docs(role):
    defaults, options = _load(role)
    for name, spec in options.items():
        assert spec.get("description"), f"{role}: {name} has no description"
        assert spec.get("type") in TYPES, f"{role}: {name} has no known type"
        assert "default" in spec, f"{role}: {name} has no default"
        assert spec["default"] == defaults[name], f"{role}: {name} default differs"
        value = defaults[name]
        assert isinstance(value, TYPES[spec["type"]]), (
            f"{role}: {name}={value!r} is not {spec['type']}"
        )
        if spec["type"] == "int":
            assert not isinstance(value, bool), f"{role}: {name} is a bool, not an int"
        if "choices" in spec:
            assert value in spec["choices"], f"{role}: {name}={value!r} not in its choices"


@pytest.mark.parametrize("role", STRICT_ROLES)
def test_variables_carry_the_role_prefix(role):
    # aiops_agent_config's variables are the agent's, shared by every role that deploys it.
    defaults, _ = _load(role)
    for name in defaults:
        assert name.startswith("aiops_agent_"), name
