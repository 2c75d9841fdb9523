"""The repository as the Ansible collection aiops.agent: `ansible-galaxy collection build` makes a
tarball with the roles, playbooks, rulebook, module and the agent's source, and without
virtualenvs, caches, tests, secrets or rendered files; once installed, its playbooks resolve their
roles by the collection's name and the agent's wheel builds from the installed copy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.integration

REQUIRED = [
    "MANIFEST.json",
    "FILES.json",
    "meta/runtime.yml",
    "README.md",
    "roles/aiops_agent/tasks/main.yml",
    "roles/aiops_agent/files/build_wheelhouse.py",
    # build_wheelhouse.py imports it, and the role runs it on every host.
    "roles/aiops_agent/files/read_installed.py",
    "roles/aiops_agent_config/templates/config.yaml.j2",
    "roles/aiops_k8s/tasks/main.yml",
    "roles/aiops_remediation/tasks/main.yml",
    "roles/aiops_rulebook/templates/aiops-rulebook.service.j2",
    "playbooks/site.yml",
    "playbooks/uninstall.yml",
    "playbooks/remediate.yml",
    "extensions/eda/rulebooks/remediation.yml",
    "plugins/modules/remediation_ledger.py",
    "pyproject.toml",
    "agent/aiops_agent/__init__.py",
    "agent/aiops_agent/py.typed",
    "docs/remediation.md",
]
# Path parts and names that must never ship.
FORBIDDEN_PARTS = {
    ".venv",
    ".venv-eda",
    "__pycache__",
    ".git",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "tests",
    "bench",
    "molecule",
    "wheelhouse",
    "rendered",
    "k8s",
}


def galaxy_version() -> str:
    version: str = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    return version


def run(*command: str, cwd: Path = ROOT, **env: str) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", **env},
    )
    assert result.returncode == 0, f"{command}: {result.stdout[-4000:]}{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT))
    (built,) = out.glob("aiops-agent-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    collections = tmp_path_factory.mktemp("collections")
    run(
        str(BIN / "ansible-galaxy"),
        "collection",
        "install",
        "--offline",
        "--no-deps",
        "--force",
        "-p",
        str(collections),
        str(tarball),
    )
    yield collections


def test_tarball_holds_the_content_and_nothing_else(tarball: Path) -> None:
    contents: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                with handle:
                    contents[member.name.removeprefix("./")] = handle.read()
    missing = [name for name in REQUIRED if name not in contents]
    assert not missing, f"missing from the collection: {missing}"
    shipped = [name for name in contents if FORBIDDEN_PARTS & set(Path(name).parts)]
    assert not shipped, f"must not ship: {shipped[:20]}"
    assert not [n for n in contents if n.endswith((".pyc", ".retry", "vault-pass"))]
    assert not [n for n in contents if ".egg-info" in n]
    vaulted = [name for name, data in contents.items() if b"$ANSIBLE_VAULT" in data]
    assert not vaulted, f"vaulted secrets in the collection: {vaulted}"
    manifest = json.loads(contents["MANIFEST.json"])
    assert manifest["collection_info"]["version"] == galaxy_version()


def test_playbooks_resolve_their_roles_by_the_collection_name(installed: Path) -> None:
    inventory = "localhost,"
    for playbook in ("aiops.agent.site", "aiops.agent.remediate", "aiops.agent.uninstall"):
        run(
            str(BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            inventory,
            playbook,
            cwd=installed,
            ANSIBLE_COLLECTIONS_PATH=str(installed),
            ANSIBLE_ROLES_PATH=str(installed / "nowhere"),
        )


def test_the_agent_wheel_builds_from_the_installed_collection(
    installed: Path, tmp_path: Path
) -> None:
    collection = installed / "ansible_collections" / "aiops" / "agent"
    out = run(
        sys.executable,
        str(collection / "roles" / "aiops_agent" / "files" / "build_wheelhouse.py"),
        "--wheelhouse",
        str(tmp_path / "wheelhouse"),
        # The role passes the lock shipped in the collection, as here.
        "--lock",
        str(collection / "requirements-runtime.lock"),
        "--source",
        str(collection),
    )
    built = json.loads(out)
    assert Path(built["agent_wheel"]).is_file(), built
    assert built["version"] == galaxy_version()


def test_remediation_refuses_unsafe_settings_before_acting(installed: Path, tmp_path: Path) -> None:
    """A clean-up setting a typo could turn into deleting the wrong files fails the run, naming
    the entry, before any host is touched (the validation runs on the controller)."""
    cleanup = [
        {"path": "/var/log/app", "patterns": ["*.gz"], "age": "7d"},  # fine
        {"path": "/etc/app", "patterns": ["*.gz"], "age": "7d"},  # in a protected tree
        {"path": "/var", "patterns": ["*.gz"], "age": "7d"},  # a protected directory
        {"path": "/var/log/../../etc", "patterns": ["*.gz"], "age": "7d"},  # not normalised
        {"path": "/var/tmp/x", "patterns": ["*"], "age": "7d"},  # everything
        {"path": "/var/tmp/y", "patterns": ["*.gz"]},  # no age
        {"path": "/var/tmp/z", "patterns": ["*.gz"], "age": "7d", "recursive": True},  # typo
    ]
    settings = {
        "aiops_remediation_cleanup": cleanup,
        "aiops_remediation_alerts": {"Full": ["clean_files"]},
        "aiops_remediation_ledger": str(tmp_path / "actions.jsonl"),
        "aiops_remediation_event": {
            "status": "firing",
            "alerts": [{"labels": {"alertname": "Full", "host": "localhost", "mountpoint": "/"}}],
        },
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "aiops.agent.remediate",
            "-e",
            f"@{tmp_path / 'settings.json'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed), "NO_COLOR": "1"},
    )
    assert result.returncode != 0
    for index in range(1, len(cleanup)):
        assert f"aiops_remediation_cleanup[{index}] = " in result.stdout, (index, result.stdout)
    assert "aiops_remediation_cleanup[0] = " not in result.stdout
    assert not (tmp_path / "actions.jsonl").exists()  # nothing was even planned


def test_module_documentation_matches_its_arguments(installed: Path) -> None:
    out = run(
        str(BIN / "ansible-doc"),
        "--json",
        "-t",
        "module",
        "aiops.agent.remediation_ledger",
        cwd=installed,
        ANSIBLE_COLLECTIONS_PATH=str(installed),
    )
    documented = json.loads(out)["aiops.agent.remediation_ledger"]["doc"]["options"]
    source = (ROOT / "plugins" / "modules" / "remediation_ledger.py").read_text()
    spec = source[source.index("argument_spec=dict(") : source.index("supports_check_mode")]
    arguments = set(re.findall(r"^\s+(\w+)=dict\(", spec, re.MULTILINE))
    assert set(documented) == arguments


# ansible-test's sanity tests that run offline. The others (ansible-doc, import, pep8, pylint,
# runtime-metadata, validate-modules, yamllint) each make a virtualenv whose pip is bootstrapped
# with a script from ci-files.testing.ansible.com, and install their requirements with pip
# without the machine's pip configuration (ansible-test passes on only a few environment
# variables): neither works without the internet. ansible-doc, ruff and yamllint run elsewhere.
OFFLINE_SANITY = [
    "action-plugin-docs",
    "changelog",
    "compile",
    "empty-init",
    "ignores",
    "line-endings",
    "no-assert",
    "no-get-exception",
    "no-illegal-filenames",
    "no-smart-quotes",
    "replace-urlopen",
    "shebang",
    "symlinks",
    "use-argspec-type-path",
    "use-compat-six",
]


def test_ansible_test_sanity_offline(installed: Path, tmp_path: Path) -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    selected = [argument for test in OFFLINE_SANITY for argument in ("--test", test)]
    run(
        str(BIN / "ansible-test"),
        "sanity",
        "--local",
        "--python",
        python,
        *selected,
        cwd=installed / "ansible_collections" / "aiops" / "agent",
        HOME=str(tmp_path),  # its caches and virtualenvs go under ~/.ansible/test
    )
