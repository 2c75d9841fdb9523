"""Each role's meta/argument_specs.yml documents exactly the variables of its defaults/main.yml,
with the same defaults, a description and a type that accepts the default, down to nested options
and list elements."""

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


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_spec_defaults_types_and_docs(role):
    defaults, options = _load(role)
    for name, spec in options.items():
        assert "default" in spec, f"{role}: {name} has no default"
        assert spec["default"] == defaults[name], f"{role}: {name} default differs"
        _check_option(f"{role}: {name}", spec, defaults[name])


def _check_option(where, spec, value):
    """The option is documented and typed, and `value` (its default, or a part of it) is what
    the spec says it may be, nested options and list elements included."""
    assert spec.get("description"), f"{where} has no description"
    assert spec.get("type") in TYPES, f"{where} has no known type"
    _check_type(where, spec["type"], value)
    if "choices" in spec:
        assert value in spec["choices"], f"{where}={value!r} not in its choices"
    if "elements" in spec:
        for index, item in enumerate(value):
            _check_type(f"{where}[{index}]", spec["elements"], item)
    if "options" in spec:
        items = value if spec["type"] == "dict" else {}
        for index, item in enumerate(value if spec["type"] == "list" else []):
            _check_suboptions(f"{where}[{index}]", spec["options"], item)
        _check_suboptions(where, spec["options"], items)


def _check_suboptions(where, options, value):
    assert not set(value) - set(options), f"{where}: undocumented keys {set(value) - set(options)}"
    for name, spec in options.items():
        if name in value:
            _check_option(f"{where}.{name}", spec, value[name])
        elif "default" in spec:
            _check_option(f"{where}.{name} (default)", spec, spec["default"])
        elif "options" in spec:  # a sub-mapping left out: its own options' defaults
            _check_suboptions(f"{where}.{name}", spec["options"], {})


def _check_type(where, type_name, value):
    assert isinstance(value, TYPES[type_name]), f"{where}={value!r} is not {type_name}"
    if type_name == "int":
        assert not isinstance(value, bool), f"{where} is a bool, not an int"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_variables_carry_the_role_prefix(role):
    # aiops_agent_config's variables are the agent's, shared by every role that deploys it.
    prefix = "aiops_agent_" if role == "aiops_agent_config" else f"{role}_"
    defaults, _ = _load(role)
    for name in defaults:
        assert name.startswith(prefix), name
