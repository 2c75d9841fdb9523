"""The host under test: a systemd container from the molecule image, made to look like a small
VM of its own and deployed with the project's role.

A container shares the machine's kernel, so /proc/stat, /proc/meminfo and /proc/loadavg would
show the whole (shared, busy) machine. LXCFS, which LXD and Incus system containers use for the
same reason, serves the container's own view instead: 1 CPU (its CFS quota), 1 GiB of memory (its
cgroup limit), its own load average and disk statistics. The agent and node_exporter read those
files like on any host. File systems to fill are ext4 images on the machine's /dev/shm, loop
mounted and bound into the container, so the machine's disk is never at risk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import yaml
from catalogue import MEMORY_BYTES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BASE_IMAGE = "localhost/aiops-debian-systemd:bookworm"
DERIVED_IMAGE = "localhost/aiops-faults-host"
LXCFS_FILES = ("cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "uptime")
LXCFS_CPUS = "sys/devices/system/cpu"  # its "online" says how many CPUs the host has
LXCFS_IN_HOST = "/var/lib/lxcfs"  # where LXD and Incus put it too
# The role's sandbox (ProtectKernelTunables, ProtectControlGroups) gives the agent a /proc of its
# own, without the files LXCFS lays over the container's: bind them back into it. On a VM there
# is nothing to bind and the role's unit is used as it is.
AGENT_DROPIN = (
    "[Service]\n"
    + "".join(
        f"BindReadOnlyPaths={LXCFS_IN_HOST}/proc/{name}:/proc/{name}\n" for name in LXCFS_FILES
    )
    + f"BindReadOnlyPaths={LXCFS_IN_HOST}/{LXCFS_CPUS}:/{LXCFS_CPUS}\n"
)
LABEL = "io.aiops-agent.faults=1"
MEMORY = "1g"
# name -> (size, mkfs options)
FILESYSTEMS = {"fill": ("64M", ["-m", "5"]), "inodes": ("16M", ["-N", "2048"])}


class HostError(RuntimeError):
    pass


def sh(*argv: str, check: bool = True, timeout: float = 600, **kwargs: Any) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise HostError(
            f"{' '.join(argv)[:300]}: exit {result.returncode}\n{result.stdout[-3000:]}"
            f"{result.stderr[-3000:]}"
        )
    return result.stdout


def podman_env() -> dict[str, str]:
    """The environment scripts/podman-env.sh makes (runc on hybrid cgroups, lowered ulimits)."""
    out = sh("bash", "-c", f"source {ROOT}/scripts/podman-env.sh && env -0")
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def ensure_tools() -> None:
    need = [
        package
        for command, package in (("lxcfs", "lxcfs"), ("mkfs.ext4", "e2fsprogs"))
        if shutil.which(command) is None
    ]
    if need:
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *need)


def ensure_image(packages: tuple[str, ...], env: dict[str, str], network: str) -> str:
    """The molecule image, or one derived from it with `packages`, cached by tag."""
    sh(str(ROOT / "scripts" / "build-images.sh"), "bookworm", env=env)
    if not packages:
        return BASE_IMAGE
    digest = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:10]
    tag = f"{DERIVED_IMAGE}:bookworm-{digest}"
    if subprocess.run(["podman", "image", "exists", tag], env=env, check=False).returncode == 0:
        return tag
    builder = f"aiops-faults-build-{digest}"
    sh("podman", "rm", "-f", builder, env=env, check=False)
    install = (
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {' '.join(packages)} >/dev/null && apt-get clean && "
        "rm -rf /var/lib/apt/lists/*"
    )
    try:
        sh("podman", "run", "--name", builder, "--network", network, BASE_IMAGE, "bash", "-c",
           install, env=env, timeout=900)  # fmt: skip
        sh("podman", "commit", "-q", "--change", 'CMD ["/sbin/init"]', "--change",
           "STOPSIGNAL SIGRTMIN+3", builder, tag, env=env)  # fmt: skip
    finally:
        sh("podman", "rm", "-f", builder, env=env, check=False)
    return tag


def _rmdir(path: Path) -> None:
    """Remove a cgroup directory (and the empty ones podman left inside it)."""
    for child in sorted(path.glob("**/"), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()


class Host:
    """One host container, its network, LXCFS and loop file systems; `close` removes them all."""

    def __init__(self, run_id: str, workdir: Path, swap_bytes: int = 0) -> None:
        self.name = f"aiops-faults-{run_id}"
        # swap the container may use: none unless the run added a swap file (--swap-file)
        self.swap_bytes = swap_bytes
        self.network = self.name
        self.workdir = workdir
        # tmpfs: the file systems to fill live in memory, never on the disk
        self.shm = Path("/dev/shm") / self.name  # noqa: S108
        self.lxcfs_dir = workdir / "lxcfs"
        self.env = podman_env()
        self.cleanups = contextlib.ExitStack()
        self.gateway = ""
        self.address = ""

    # --- lifecycle ------------------------------------------------------------------------
    def create_network(self) -> None:
        self.podman("network", "create", "--label", LABEL, self.network)
        self.cleanups.callback(self.podman, "network", "rm", "-f", self.network, check=False)
        info = json.loads(self.podman("network", "inspect", self.network))[0]
        self.gateway = info["subnets"][0]["gateway"]

    def start(self, image: str) -> None:
        self._start_lxcfs()
        self._make_filesystems()
        mounts = [f"-v={self.lxcfs_dir}/proc/{name}:/proc/{name}:ro" for name in LXCFS_FILES]
        mounts.append(f"-v={self.lxcfs_dir}/{LXCFS_CPUS}:/{LXCFS_CPUS}:ro")
        mounts.append(f"-v={self.lxcfs_dir}:{LXCFS_IN_HOST}:ro")  # for the agent's drop-in
        mounts += [f"-v={self.shm}/mnt/{name}:/srv/{name}" for name in FILESYSTEMS]
        parent = self._cgroup_parent()
        memory_swap = f"{(MEMORY_BYTES + self.swap_bytes) >> 20}m"
        self.cleanups.callback(self.podman, "rm", "-f", "-t", "2", self.name, check=False)
        # conmon, which podman starts beside the container, inherits podman's working directory
        # and (Debian 12's conmon 2.1) creates an empty file `oom` there when a process of the
        # container is OOM-killed (containers/conmon#504): start it in the run's scratch directory,
        # removed at cleanup, not wherever the benchmark was started.
        self.podman(
            "run", "-d", "--name", self.name, "--hostname", "faults-host",
            "--network", self.network, "--label", LABEL, "--systemd=always",
            # SYS_ADMIN: systemd's sandboxing and the FUSE mount; NET_ADMIN: the flood's veth
            "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--device", "/dev/fuse",
            "--cgroup-parent", parent, "--cpus", "1", f"--memory={MEMORY}",
            f"--memory-swap={memory_swap}", "--pids-limit", "4096",
            "--tmpfs", "/home:rw,size=16m", *mounts, image, "/sbin/init", cwd=self.shm,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = self.exec("systemctl", "is-system-running", check=False).strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            raise HostError(f"{self.name}: systemd did not come up ({state})")
        info = json.loads(self.podman("inspect", self.name))[0]
        self.address = info["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        self.podman("cp", str(HERE / "container") + "/.", f"{self.name}:/opt/faults")
        self.podman(
            "cp", str(ROOT / "tests" / "helpers" / "hangfs.py"), f"{self.name}:/opt/faults/"
        )

    def close(self) -> None:
        self.cleanups.close()

    def _cgroup_parent(self) -> str:
        """A cgroup of its own at the top, weighted like 8 ordinary processes: on a busy shared
        machine the host still gets the 1 CPU its quota allows, as a VM gets its vCPU. The
        quota keeps it from taking more, so the rest of the machine keeps the other CPUs."""
        parent = f"/{self.name}"
        v1 = Path("/sys/fs/cgroup/cpu")
        if (v1 / "cpu.shares").exists():
            for controller in sorted(Path("/sys/fs/cgroup").iterdir()):
                if (controller / "cgroup.procs").exists() and controller.name != "unified":
                    (controller / self.name).mkdir(exist_ok=True)
                    self.cleanups.callback(_rmdir, controller / self.name)
            (v1 / self.name / "cpu.shares").write_text("8192")
            # runc adds the container to the cgroup v2 "unified" hierarchy of a hybrid host too
            unified = Path("/sys/fs/cgroup/unified") / self.name
            self.cleanups.callback(_rmdir, unified)
        else:
            (Path("/sys/fs/cgroup") / self.name).mkdir(exist_ok=True)
            self.cleanups.callback(_rmdir, Path("/sys/fs/cgroup") / self.name)
            with contextlib.suppress(OSError):
                (Path("/sys/fs/cgroup") / self.name / "cpu.weight").write_text("800")
        return parent

    def _start_lxcfs(self) -> None:
        self.lxcfs_dir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "lxcfs.log").open("wb")
        self.cleanups.callback(log.close)
        process = subprocess.Popen(
            ["lxcfs", "-f", "-l", "--enable-cfs", "-p", str(self.workdir / "lxcfs.pid"),
             str(self.lxcfs_dir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.cleanups.callback(self._stop_lxcfs, process)
        deadline = time.monotonic() + 20
        while not (self.lxcfs_dir / "proc" / "meminfo").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise HostError(f"lxcfs did not start (log: {self.workdir / 'lxcfs.log'})")
            time.sleep(0.1)

    def _stop_lxcfs(self, process: subprocess.Popen[bytes]) -> None:
        sh("umount", "-l", str(self.lxcfs_dir), check=False)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()

    def _make_filesystems(self) -> None:
        self.shm.mkdir(parents=True, exist_ok=True)
        self.cleanups.callback(shutil.rmtree, self.shm, ignore_errors=True)
        for name, (size, options) in FILESYSTEMS.items():
            image, mountpoint = self.shm / f"{name}.img", self.shm / "mnt" / name
            mountpoint.mkdir(parents=True, exist_ok=True)
            sh("truncate", "-s", size, str(image))
            sh("mkfs.ext4", "-q", "-F", *options, str(image))
            sh("mount", "-o", "loop", str(image), str(mountpoint))
            self.cleanups.callback(sh, "umount", "-l", str(mountpoint), check=False)

    # --- commands -------------------------------------------------------------------------
    def podman(
        self, *args: str, check: bool = True, timeout: float = 600, cwd: Optional[Path] = None
    ) -> str:
        return sh("podman", *args, env=self.env, check=check, timeout=timeout, cwd=cwd)

    def exec(self, *argv: str, check: bool = True, timeout: float = 120) -> str:
        return self.podman("exec", self.name, *argv, check=check, timeout=timeout)

    def shell(self, script: str, check: bool = True, timeout: float = 120) -> str:
        return self.exec("bash", "-c", script, check=check, timeout=timeout)

    def write(self, path: str, text: str, mode: str = "0644", group: str = "root") -> None:
        subprocess.run(
            ["podman", "exec", "-i", self.name, "bash", "-c",
             f"install -m {mode} -g {group} /dev/stdin {path}"],
            input=text, text=True, env=self.env, check=True, capture_output=True,
        )  # fmt: skip

    def wait_http(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["podman", "exec", self.name, "curl", "-sf", "-m", "2", "-o", "/dev/null", url],
                env=self.env, check=False, capture_output=True,
            )  # fmt: skip
            if probe.returncode == 0:
                return
            time.sleep(0.5)
        raise HostError(f"{url} in {self.name} did not answer within {timeout:.0f} s")

    # --- faults ---------------------------------------------------------------------------
    def inject(self, unit: str, command: str, properties: tuple[str, ...]) -> None:
        props = [f"--property={prop}" for prop in properties]
        self.exec("systemd-run", f"--unit={unit}", "--collect", "--quiet", *props,
                  "/bin/bash", "-c", command)  # fmt: skip

    def recover(self, unit: str, cleanup: str) -> None:
        # SIGKILL to every process of the unit first: a fork loop outruns SIGTERM
        self.exec("systemctl", "kill", "--signal=SIGKILL", unit, check=False, timeout=60)
        self.exec("systemctl", "stop", unit, check=False, timeout=60)
        if cleanup:
            self.shell(cleanup, check=False, timeout=120)


def deploy_agent(host: Host, config_extra: dict[str, Any]) -> None:
    """The role (playbooks/site.yml) installs the agent with its defaults plus `config_extra`."""
    wheelhouse = Path.home() / ".cache" / "aiops-agent" / "faults-wheelhouse"
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "containers.podman.podman",
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                "aiops_agents": {
                    "hosts": {
                        host.name: {
                            "aiops_agent_interval": "1s",
                            "aiops_agent_wheelhouse_dir": str(wheelhouse),
                            "aiops_agent_config_extra": config_extra,
                        }
                    }
                }
            },
        }
    }
    for unit in ("aiops-agent", "aiops-agent-second"):
        host.exec("mkdir", "-p", f"/etc/systemd/system/{unit}.service.d")
        host.write(f"/etc/systemd/system/{unit}.service.d/lxcfs.conf", AGENT_DROPIN)
    path = host.workdir / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    beside = Path(sys.executable).parent / "ansible-playbook"
    playbook = str(beside) if beside.exists() else "ansible-playbook"
    log = host.workdir / "deploy.log"
    with log.open("w") as out:
        result = subprocess.run(
            [playbook, "-i", str(path), "playbooks/site.yml"],
            cwd=ROOT, env={**host.env, "ANSIBLE_PIPELINING": "true"}, stdout=out,
            stderr=subprocess.STDOUT, check=False, timeout=1200,
        )  # fmt: skip
    if result.returncode != 0:
        raise HostError(f"deployment failed (log: {log}):\n{log.read_text()[-4000:]}")
    host.wait_http("http://127.0.0.1:9877/readyz")
    check_view(host, "http://127.0.0.1:9877/metrics")


def check_view(host: Host, url: str) -> None:
    """The agent must see the container's memory (LXCFS), not the machine's."""
    metrics = host.shell(f"curl -sf {url} | grep '^node_memory_MemTotal_bytes '")
    seen = float(metrics.split()[-1])
    if seen != MEMORY_BYTES:
        raise HostError(f"{url}: MemTotal {seen:.0f}, not the container's {MEMORY_BYTES}")


def start_second_agent(host: Host, config: dict[str, Any]) -> None:
    """A second agent beside the role's, from the role's own unit, with `config`."""
    host.write("/etc/aiops-agent/second.yaml", yaml.safe_dump(config), "0640", "aiops-agent")
    host.exec("/opt/aiops-agent/venv/bin/aiops-agent", "check-config", "--config",
              "/etc/aiops-agent/second.yaml")  # fmt: skip
    host.shell(
        "sed -e 's#/etc/aiops-agent/config.yaml#/etc/aiops-agent/second.yaml#'"
        " -e 's#^StateDirectory=aiops-agent$#StateDirectory=aiops-agent-second#'"
        " /etc/systemd/system/aiops-agent.service >/etc/systemd/system/aiops-agent-second.service"
        " && systemctl daemon-reload && systemctl start aiops-agent-second"
    )
    host.wait_http("http://127.0.0.1:9878/readyz")
    check_view(host, "http://127.0.0.1:9878/metrics")


def read_config(host: Host) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(host.exec("cat", "/etc/aiops-agent/config.yaml"))
    return config
