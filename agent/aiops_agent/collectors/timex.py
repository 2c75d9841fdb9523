"""The kernel's clock discipline from adjtimex(2) (node_exporter's timex collector): offset,
frequency adjustment, error estimates and whether the clock is synchronised (NTP or PTP sets it).
Read-only: modes is 0, so the call changes nothing and needs no privilege. The system call sees
the host's clock whatever host_root says (there is one clock per kernel). ctypes costs about
0.3 MiB of resident memory, paid only when this collector is enabled."""

from __future__ import annotations

import ctypes
import errno
import os

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge

_TIME_ERROR = 5  # adjtimex's return value when the clock is not synchronised
_STA_NANO = 0x2000  # status bit: offset and jitter are in nanoseconds, else microseconds
_PPM16 = 1_000_000.0 * 65536.0  # freq, ppsfreq and stabil are in ppm with a 16-bit fraction


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h>; ctypes' natural alignment gives the kernel's layout."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


def read_timex() -> tuple[int, Timex] | None:
    """(clock state, struct timex), or None when a sandbox forbids the call (EPERM), which
    node_exporter also treats as "no data"."""
    libc = ctypes.CDLL(None, use_errno=True)
    timex = Timex()  # zeroed: modes 0 reads without adjusting anything
    state = int(libc.adjtimex(ctypes.byref(timex)))
    if state == -1:
        code = ctypes.get_errno()
        if code == errno.EPERM:
            return None
        raise OSError(code, f"adjtimex: {os.strerror(code)}")
    return state, timex


# (kind, name, help) in node_exporter's order.
_FAMILIES = (
    ("gauge", "sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
    ("gauge", "offset_seconds", "Time offset in between local system and reference clock."),
    ("gauge", "frequency_adjustment_ratio", "Local clock frequency adjustment."),
    ("gauge", "maxerror_seconds", "Maximum error in seconds."),
    ("gauge", "estimated_error_seconds", "Estimated error in seconds."),
    ("gauge", "status", "Value of the status array bits."),
    ("gauge", "loop_time_constant", "Phase-locked loop time constant."),
    ("gauge", "tick_seconds", "Seconds between clock ticks."),
    ("gauge", "pps_frequency_hertz", "Pulse per second frequency."),
    ("gauge", "pps_jitter_seconds", "Pulse per second jitter."),
    ("gauge", "pps_shift_seconds", "Pulse per second interval duration."),
    (
        "gauge",
        "pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.",
    ),
    ("counter", "pps_jitter_total", "Pulse per second count of jitter limit exceeded events."),
    ("counter", "pps_calibration_total", "Pulse per second count of calibration intervals."),
    ("counter", "pps_error_total", "Pulse per second count of calibration errors."),
    (
        "counter",
        "pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.",
    ),
    ("gauge", "tai_offset_seconds", "International Atomic Time (TAI) offset."),
)


def timex_values(state: int, timex: Timex) -> dict[str, float]:
    """Each family's value in node_exporter's units from one adjtimex reading."""
    divisor = 1e9 if timex.status & _STA_NANO else 1e6
    return {
        "sync_status": 0.0 if state == _TIME_ERROR else 1.0,
        "offset_seconds": timex.offset / divisor,
        "frequency_adjustment_ratio": 1 + timex.freq / _PPM16,
        "maxerror_seconds": timex.maxerror / 1e6,
        "estimated_error_seconds": timex.esterror / 1e6,
        "status": timex.status,
        "loop_time_constant": timex.constant,
        "tick_seconds": timex.tick / 1e6,
        "pps_frequency_hertz": timex.ppsfreq / _PPM16,
        "pps_jitter_seconds": timex.jitter / divisor,
        "pps_shift_seconds": timex.shift,
        "pps_stability_hertz": timex.stabil / _PPM16,
        "pps_jitter_total": timex.jitcnt,
        "pps_calibration_total": timex.calcnt,
        "pps_error_total": timex.errcnt,
        "pps_stability_exceeded_total": timex.stbcnt,
        "tai_offset_seconds": timex.tai,
    }


def timex_families(state: int, timex: Timex) -> list[MetricFamily]:
    values = timex_values(state, timex)
    return [
        (counter if kind == "counter" else gauge)(
            f"node_timex_{name}", help_text, [Sample((), float(values[name]))]
        )
        for kind, name, help_text in _FAMILIES
    ]


class TimexCollector:
    name = "timex"

    def collect(self) -> list[MetricFamily]:
        reading = read_timex()
        return [] if reading is None else timex_families(*reading)
