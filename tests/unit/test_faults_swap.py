"""The fault benchmark's opt-in swap (bench/faults/swap.py, run.py --swap-file): the swap storm
runs only with a swap file the run adds, and the run refuses swap it did not add. Nothing here
touches the machine's swap: /proc/swaps is given as text."""

from __future__ import annotations

import itertools
import shlex
import sys
from pathlib import Path

import pytest

FAULTS = Path(__file__).resolve().parents[2] / "bench" / "faults"
sys.path.insert(0, str(FAULTS))
sys.path.insert(0, str(FAULTS / "container"))

import catalogue  # noqa: E402
import run  # noqa: E402
import swap  # noqa: E402
import swapstorm  # noqa: E402

HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
OURS = Path("/var/tmp/aiops-faults-abc123.swap")


def test_no_swap_on_the_machine_is_accepted() -> None:
    swap.refuse_foreign(HEADER)
    swap.refuse_foreign(HEADER, OURS)


def test_swap_the_run_did_not_add_is_refused_by_name() -> None:
    swaps = HEADER + "/dev/vdb2                               partition\t8388604\t\t0\t\t-2\n"
    with pytest.raises(swap.SwapError, match="/dev/vdb2"):
        swap.refuse_foreign(swaps)
    with pytest.raises(swap.SwapError, match="/dev/vdb2"):
        swap.refuse_foreign(swaps + f"{OURS} file 1048572 0 -3\n", OURS)


def test_its_own_swap_file_is_not_foreign() -> None:
    swap.refuse_foreign(HEADER + f"{OURS}  file  1048572  4096  -3\n", OURS)


@pytest.mark.parametrize(("text", "mib"), [("1G", 1024), ("512M", 512), ("1536MiB", 1536)])
def test_sizes(text: str, mib: int) -> None:
    assert swap.parse_size(text) == mib << 20


@pytest.mark.parametrize("text", ["", "1T", "64M", "8G", "1.5G", "1000k", "-1G"])
def test_sizes_refused(text: str) -> None:
    with pytest.raises(ValueError, match="swap file size"):
        swap.parse_size(text)


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.os, "geteuid", lambda: 0)  # parse() stops a non-root run


def test_without_swap_file_the_storm_is_left_out(as_root: None) -> None:
    setting, _ = run.parse(["--setting", "full"])
    assert "swap_storm" not in setting.faults
    assert setting.swap_bytes == 0
    assert "cpu" in setting.faults


def test_with_swap_file_the_storm_runs_within_memory_and_swap(as_root: None) -> None:
    setting, _ = run.parse(["--setting", "full", "--swap-file", "1G"])
    assert "swap_storm" in setting.faults
    assert setting.swap_bytes == 1 << 30
    # the working set exceeds the container's memory by a quarter of the swap allowance, far
    # enough below memory and swap that the memory cgroup need not OOM-kill the writer
    assert setting.storm_mib == 1024 + 256


@pytest.mark.parametrize(("size", "mib"), [("512M", 1024 + 128), ("2G", 1024 + 512)])
def test_storm_working_set_scales_with_the_allowance(as_root: None, size: str, mib: int) -> None:
    setting, _ = run.parse(["--setting", "full", "--swap-file", size])
    assert setting.storm_mib == mib


def test_storm_writes_the_working_set_at_a_bounded_rate(as_root: None) -> None:
    """The injected command is our bounded-rate writer over the working set, not a writer as
    fast as it can go (stress-ng --vm), which the memory cgroup OOM-killed."""
    setting, _ = run.parse(["--setting", "full", "--swap-file", "1G"])
    command = catalogue.fault("swap_storm").command.replace("{storm_mib}", str(setting.storm_mib))
    program, script, *argv = shlex.split(command)
    assert (program, script) == ("python3", "/opt/faults/swapstorm.py")
    args = swapstorm.parse(argv)
    assert args.mib == setting.storm_mib
    # well above HostSwapActivity's critical 1000 pages/s even if only a sixth were major faults
    assert 6000 <= args.rate <= 20000


@pytest.mark.parametrize("pages", [81920, 1031 * 4, 7])
def test_storm_cycle_writes_every_page_once_a_pass(pages: int) -> None:
    order = swapstorm.cycle(pages)
    for _ in range(2):
        one_pass = list(itertools.islice(order, pages))
        assert sorted(one_pass) == list(range(pages))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_storm_pacing_writes_its_rate_and_never_bursts_after_a_stall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(swapstorm.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(swapstorm.time, "sleep", clock.sleep)
    rate, pages = 3000.0, 9000
    per_tick = rate * swapstorm.TICK
    counts = []
    for count in swapstorm.paced(pages, rate):
        counts.append(count)
        if len(counts) == 50:
            clock.now += 5.0  # the disk stalled for 5 s
    assert sum(counts) == pages
    assert max(counts) <= per_tick
    # 3 s of writes at 3000 a second, plus the stall
    assert clock.now - 100.0 == pytest.approx(pages / rate + 5.0, abs=0.1)


def test_storm_asked_without_swap_file_is_an_error(
    as_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.parse(["--faults", "swap_storm"])
    assert exit_info.value.code == 2
    assert "--swap-file" in capsys.readouterr().err


def test_run_refuses_before_creating_anything_when_swap_is_active(
    as_root: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    swaps = HEADER + "/swapfile file 2097148 0 -2\n"
    monkeypatch.setattr(swap, "read_swaps", lambda: swaps)

    def no_host(*args: object) -> None:
        raise AssertionError("the run went on despite the machine's swap")

    monkeypatch.setattr(run.hostlib, "Host", no_host)
    monkeypatch.setattr(run.hostlib, "ensure_tools", no_host)
    assert run.main(["--faults", "swap_storm", "--swap-file", "1G"]) == 2
    assert "/swapfile" in capsys.readouterr().err


def _report(faults: list[str], swap_file_mib: int = 0) -> str:
    import score

    timeline = {
        "interval": 1.0,
        "time_scale": 15,
        "baseline": {"start": 0.0, "end": 60.0},
        "faults": {
            name: {"start": 60.0 + 200 * i, "recovered": 150.0 + 200 * i, "end": 260.0 + 200 * i}
            for i, name in enumerate(faults)
        },
    }
    meta = {
        "command": "run.py", "date": "today", "setting": "full", "agent_version": "0",
        "commit": "abc", "machine": "m", "time_scale": 15, "interval": 1.0, "hold": 90.0,
        "ramp": 60.0, "recovery": 75.0, "baseline": 60.0, "faults": faults,
        "swap_file_mib": swap_file_mib,
    }  # fmt: skip
    return str(score.render(score.score([], timeline, ("agent",)), meta))


def test_report_says_the_run_added_swap_and_runs_the_storm() -> None:
    text = _report(["cpu", "swap_storm"], swap_file_mib=1024)
    assert "added a swap file of 1024 MiB" in text
    assert "Swap storm: not run" not in text


def test_report_without_swap_lists_the_storm_as_not_run() -> None:
    text = _report(["cpu"])
    assert "added a swap file" not in text
    assert "Swap storm: not run" in text
