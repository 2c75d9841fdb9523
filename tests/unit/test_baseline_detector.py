"""Tests for the learned-baseline anomaly detector."""

from __future__ import annotations

import math
import random
import sys
import tracemalloc
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))

from aiops_agent.detection.baseline import BaselineDetector

# The default alert threshold recommended in bench/nab/RESULTS.md.
THRESHOLD = 0.95


def noisy(n: int, seed: int = 1, mean: float = 50.0, sd: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def feed(det: BaselineDetector, values: list[float], t0: int = 0) -> list[float]:
    return [det.update(float(t0 + i), v) for i, v in enumerate(values)]


def test_warmup_returns_zero_and_ready_flips() -> None:
    det = BaselineDetector(warmup=50)
    # Wild values during warm-up still score 0.
    vals = [0.0, 1e6, -1e6] * 16 + [5.0]
    assert len(vals) == 49
    assert all(s == 0.0 for s in feed(det, vals))
    assert not det.ready
    det.update(49.0, 0.0)
    assert det.ready


def test_constant_series_scores_zero_after_warmup() -> None:
    det = BaselineDetector(warmup=20)
    scores = feed(det, [42.0] * 2000)
    assert max(scores) == 0.0


def test_noise_is_quiet_and_spike_scores_high() -> None:
    det = BaselineDetector()
    base = feed(det, noisy(3000))
    after_warmup = base[200:]
    # Stationary noise rarely crosses the alert threshold.
    assert sum(s >= THRESHOLD for s in after_warmup) <= 3
    assert sorted(after_warmup)[len(after_warmup) // 2] < 0.5
    spike = det.update(3000.0, 50.0 + 20 * 2.0)  # a 20-sigma spike
    assert spike > THRESHOLD


def test_step_change_detected_soon_after() -> None:
    det = BaselineDetector()
    feed(det, noisy(3000, seed=2))
    step = feed(det, noisy(20, seed=3, mean=62.0), t0=3000)  # +6 sigma level shift
    assert max(step[:5]) > THRESHOLD


def test_small_sustained_shift_caught_by_cusum() -> None:
    det = BaselineDetector()
    feed(det, noisy(3000, seed=4))
    # +3.5 sigma shift: single samples are unremarkable at 0.95, the sum is not.
    shifted = feed(det, noisy(60, seed=5, mean=57.0), t0=3000)
    assert max(shifted) > THRESHOLD
    no_cusum = BaselineDetector(cusum_weight=0.0, range_margin=0.0)
    feed(no_cusum, noisy(3000, seed=4))
    assert max(shifted) > max(feed(no_cusum, noisy(60, seed=5, mean=57.0), t0=3000))


def test_scores_always_in_unit_interval() -> None:
    rng = random.Random(7)
    det = BaselineDetector(warmup=10)
    for i in range(20000):
        r = rng.random()
        if r < 0.01:
            v = rng.choice([1e300, -1e300, 1e-300, 0.0])
        elif r < 0.05:
            v = rng.uniform(-1e9, 1e9)
        else:
            v = rng.gauss(0.0, 1.0) * (1 + i % 7)
        s = det.update(float(i), v)
        assert 0.0 <= s <= 1.0
        assert not math.isnan(s)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_scores_zero_and_leaves_state(bad: float) -> None:
    vals = noisy(500, seed=8)
    a, b = BaselineDetector(), BaselineDetector()
    feed(a, vals[:300])
    feed(b, vals[:300])
    assert b.update(300.0, bad) == 0.0
    assert b.samples == a.samples
    assert feed(a, vals[300:], t0=301) == feed(b, vals[300:], t0=301)


def test_repeated_and_backward_timestamps() -> None:
    det = BaselineDetector(warmup=10)
    vals = noisy(100, seed=9)
    stamps = [0.0] * 10 + [float(i) for i in range(90)]
    stamps[50] = stamps[40]  # one backwards step
    for t, v in zip(stamps, vals):
        assert 0.0 <= det.update(t, v) <= 1.0


def test_state_does_not_grow_with_stream_length() -> None:
    det = BaselineDetector()
    vals = noisy(1000, seed=10)
    for i in range(1000):
        det.update(float(i), vals[i])
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(100_000):
        det.update(float(1000 + i), vals[i % 1000] + (i % 13))
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 1024
    assert not hasattr(det, "__dict__")
    assert sys.getsizeof(det) < 512


def test_deterministic() -> None:
    vals = [*noisy(5000, seed=11), 500.0, *noisy(100, seed=12)]
    assert feed(BaselineDetector(), vals) == feed(BaselineDetector(), vals)


def test_invalid_parameters_rejected() -> None:
    with pytest.raises(ValueError):
        BaselineDetector(warmup=0)
    with pytest.raises(ValueError):
        BaselineDetector(alpha=0.0)
    with pytest.raises(ValueError):
        BaselineDetector(decades=0.0)
