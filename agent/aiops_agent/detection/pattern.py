"""Pattern-memory anomaly detector for one metric series (the agent's NAB leader).

API::

    det = PatternDetector()                # one per series; tunables are keyword arguments
    score = det.update(timestamp, value)   # -> float in [0, 1], once per sample, in order
    saved = det.to_state()                 # small JSON-able dict of what was learned
    det = PatternDetector.from_state(saved, **same_tunables)   # resume after a restart

``from_state`` raises ``ValueError`` for a malformed snapshot or one saved with other sizes;
a caller should then start a fresh detector (re-learning costs only the warm-up).

How a score is made (each step was chosen by measurement on the NAB dev split; the candidates
and their scores are in ``bench/nab/RESULTS.md``):

1. **Buckets.**  Samples are grouped into sub-buckets of ``stride`` samples, and each window
   position is a *bucket* of the last ``bucket`` sub-buckets, represented by its mean, or by
   its extreme sample when that departs from the mean by more than 10 % of the mean's size
   (spikes survive the downsampling, small wiggles do not).  Every sub-bucket ends one
   *evaluation*, so the buckets slide instead of depending on where the series started.
2. **Features.**  The last ``window`` buckets are scaled to the range of bucket values seen so
   far (no look-ahead: the range only ever grows, from the data already seen) and quantised
   to ``levels`` steps ("level"), and the same window is rescaled to its own min..max and
   quantised to ``shape_levels`` steps ("shape").
3. **Memory.**  A fuzzy-ART memory of at most ``capacity`` hyperboxes
   (:class:`~aiops_agent.detection.boxes.BoxMemory`) measures how far the window is from
   everything learned: ``novelty = 1 - (best fuzzy-ART match)``.  The window then joins the
   nearest box if the match reaches ``vigilance``, else becomes a new box (the least
   recently used one is replaced when the memory is full).  When the value range grows,
   stored boxes are re-expressed in the new range rather than forgotten.
4. **Likelihood.**  Novelty is judged against this series' own recent novelty: the mean and
   variance of the last ``history`` novelties (kept as bytes in a ring) give a z-score, and
   the Gaussian tail probability ``p`` of that z-score, in decades (``-log10 p``) divided by
   ``decades``, is the pattern score (capped at 0.98).  A noisy series therefore needs a
   larger novelty than a calm one (Numenta's "anomaly likelihood" idea).  A ring was
   measured better than exponential weighting (67.1 vs 66.6 standard on the dev split).
5. **Range novelty.**  A sample beyond the observed min/max by more than ``range_margin`` of
   the observed range scores 0.99 to 1.0 whatever the pattern memory says (the "spatial
   anomaly" rule of Numenta's NAB detector).
5b. **Stuck novelty.**  A run of one exactly repeated value scores 0.99 at the sample where it
   outlasts the longest run seen before (and ``stuck_min`` evaluations): a series that stops
   moving for longer than ever (writes at 0, a sensor that sticks) is new even though every
   value is familiar.  Runs are counted in samples, so it costs three numbers of state.  On
   NAB it finds three windows the pattern memory scored 0.00..0.15 (ec2_disk_write_bytes
   c0d644, rogue_agent_key_hold) and added 5.4 points to the standard score (RESULTS.md).
6. **Holdoff.**  After a score of at least ``alert_level`` the detector stays silent (returns
   0.0) for ``holdoff`` evaluations, so one incident gives one alert, not a burst.  The level
   should be the threshold the score is used with: with a higher level, scores between the two
   each alert again; with a lower one, a score that is no alert starts a holdoff that hides
   the next alert.  On NAB, whose in-sample thresholds lie at 0.24..0.27, 0.25 scored better
   than 0.3 on all three profiles.

No score is given before ``warmup`` evaluations.  Everything is bounded: the memory has a
fixed size whatever the series length (about 15 KiB with the defaults; see RESULTS.md for the
measured figure), and an update costs one fixed-size evaluation per ``stride`` samples.
Nothing is known about the series in advance: every range used for scaling is the range of
the samples seen so far.

Intervals: the defaults were calibrated on NAB's 5-minute samples with ``stride=1`` (one
evaluation per 5 minutes, buckets of 15 minutes, a 2-hour window, a 12.5-hour holdoff).  For
another sampling interval use :meth:`PatternDetector.for_interval`, which keeps those
durations: at the agent's 15 s interval it evaluates every 20 samples on buckets of 60.
Between evaluations ``update`` repeats the latest pattern score, so the score a rule sees
does not flicker.  Timestamps are accepted for interface stability but not used: the
detector counts samples, so repeated or backwards timestamps cannot disturb it, and a gap in
the data simply joins the buckets on either side of it.

Non-finite values score 0.0 and leave the state untouched; finite values are clipped to
+-1e150 so that no arithmetic on them can overflow.
"""

from __future__ import annotations

import base64
import math
from array import array
from collections.abc import Sequence
from typing import Any, Optional

from aiops_agent.detection.boxes import LANE_MAX, BoxMemory

__all__ = ["PatternDetector"]

STATE_VERSION = 1
_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this z, erfc() is accurate in double precision; above it, the asymptotic expansion.
_ERFC_LIMIT = 25.0
_CLIP = 1e150  # inputs are clipped here so spans, sums and squares stay finite
_SD_FLOOR = 1e-4  # novelty sd floor: a perfectly regular series must not divide by zero
_MIN_HISTORY = 20  # novelty statistics need this many evaluations before they score
_PATTERN_CAP = 0.98  # pattern scores stay below every range-novelty score
_NOV_UNITS = 255  # novelty in [0, 1] is kept in the history as a byte
_STUCK_SCORE = 0.99  # a record-long run of one value ranks with range novelty
_SPIKE_SHARE = 0.1  # a bucket's extreme must leave its mean by 10 % of |mean| to represent it


def _tail_decades(z: float) -> float:
    """-log10 of the one-sided Gaussian tail probability P(Z >= z)."""
    if z <= 0.0:
        return 0.0
    if z < _ERFC_LIMIT:
        return -math.log(0.5 * math.erfc(z / _SQRT2)) / _LN10
    # log Q(z) ~ -z^2/2 - log(z) - log(sqrt(2 pi)), accurate to <0.2% for z >= 25.
    return (0.5 * z * z + math.log(z) + _LOG_SQRT_2PI) / _LN10


class PatternDetector:
    """Online anomaly score in [0, 1] for one metric series; see the module docstring.

    Args:
        warmup: evaluations to learn from before scoring (the score is 0.0 until then).
        stride: samples per evaluation (1 on NAB's 5-minute data).
        bucket: evaluations per bucket, i.e. the downsampling factor in strides.
        window: buckets in the pattern window.
        levels: quantisation steps of the level features (at most 127).
        shape_levels: quantisation steps of the shape features (at most 127).
        vigilance: fuzzy-ART match a window needs to join an existing box.
        capacity: maximum number of boxes kept.
        range_margin: fraction of the observed range a sample must exceed the observed
            min/max by to count as range novelty.
        history: evaluations of novelty the likelihood is judged against.
        holdoff: evaluations of silence after a score of at least ``alert_level``.
        alert_level: the score that starts a holdoff (use the alert threshold).
        decades: decades of tail probability that map to a pattern score of 1.0.
        stuck_min: evaluations a run of one repeated value must last (besides outlasting
            every earlier run) to score as stuck novelty; 0 turns stuck novelty off.
    """

    __slots__ = (
        "_alert_level",
        "_bucket",
        "_bucket_ma",
        "_decades",
        "_evals",
        "_held",
        "_hi",
        "_history",
        "_holdoff",
        "_levels",
        "_lo",
        "_ma_rate",
        "_memory",
        "_n",
        "_nov_fill",
        "_nov_pos",
        "_nov_ring",
        "_nov_sq",
        "_nov_sum",
        "_quiet",
        "_range_margin",
        "_raw_hi",
        "_raw_last",
        "_raw_lo",
        "_ring",
        "_ring_fill",
        "_ring_pos",
        "_run",
        "_run_record",
        "_shape_levels",
        "_stride",
        "_stuck_min",
        "_sub_max",
        "_sub_min",
        "_sub_n",
        "_sub_sum",
        "_subs",
        "_subs_fill",
        "_vigilance",
        "_warmup",
        "_window",
    )

    def __init__(
        self,
        warmup: int = 150,
        *,
        stride: int = 1,
        bucket: int = 3,
        window: int = 8,
        levels: int = 80,
        shape_levels: int = 50,
        vigilance: float = 0.87,
        capacity: int = 352,
        range_margin: float = 0.01,
        history: int = 1200,
        holdoff: int = 150,
        alert_level: float = 0.25,
        decades: float = 10.0,
        stuck_min: int = 12,
    ) -> None:
        self._warmup = int(warmup)
        self._stride = int(stride)
        self._bucket = int(bucket)
        self._window = int(window)
        self._levels = int(levels)
        self._shape_levels = int(shape_levels)
        self._vigilance = float(vigilance)
        self._range_margin = float(range_margin)
        self._history = int(history)
        self._holdoff = int(holdoff)
        self._alert_level = float(alert_level)
        self._decades = float(decades)
        self._stuck_min = int(stuck_min)
        self._check_params()
        self._memory = BoxMemory(2 * self._window, int(capacity))
        self._n = 0  # samples learned from
        self._evals = 0  # sub-buckets completed
        self._raw_lo = self._raw_hi = 0.0  # range of raw samples (range novelty)
        self._raw_last = 0.0  # the previous sample
        self._run = 0  # samples in the current run of one repeated value (stuck novelty)
        self._run_record = 0  # longest such run that has ended
        self._sub_n = 0  # the sub-bucket being filled
        self._sub_sum = self._sub_max = self._sub_min = 0.0
        # (sum, max, min) of the last `bucket` sub-buckets, oldest first.
        self._subs = array("d", [0.0]) * (3 * self._bucket)
        self._subs_fill = 0
        self._bucket_ma = 0.0  # smoothed bucket mean: which extreme is the spike
        self._ma_rate = 1.0 - 0.5 ** (1.0 / self._bucket)  # its half-life is one bucket
        # Bucket values, one per evaluation, enough for `window` buckets `bucket` apart.
        self._ring = array("d", [0.0]) * (self._bucket * (self._window - 1) + 1)
        self._ring_pos = self._ring_fill = 0
        self._lo = self._hi = 0.0  # range of bucket values (level features)
        self._nov_ring = array("B", [0]) * self._history  # recent novelties, quantised
        self._nov_pos = self._nov_fill = 0
        self._nov_sum = self._nov_sq = 0  # exact integer sums over the ring
        self._quiet = self._holdoff * self._stride + 1  # samples since the last alert
        self._held = 0.0  # latest pattern score, repeated between evaluations

    def _check_params(self) -> None:
        if self._warmup < 0 or self._holdoff < 0:
            raise ValueError("warmup and holdoff must be >= 0")
        if self._stride < 1 or self._bucket < 1 or self._window < 2:
            raise ValueError("stride and bucket must be >= 1 and window >= 2")
        if not (1 <= self._levels <= LANE_MAX and 1 <= self._shape_levels <= LANE_MAX):
            raise ValueError(f"levels and shape_levels must be in 1..{LANE_MAX}")
        if not 0.0 < self._vigilance <= 1.0:
            raise ValueError("vigilance must be in (0, 1]")
        if self._history < _MIN_HISTORY:
            raise ValueError(f"history must be >= {_MIN_HISTORY}")
        if self._range_margin < 0.0 or self._decades <= 0.0:
            raise ValueError("range_margin must be >= 0 and decades > 0")
        if self._stuck_min < 0:
            raise ValueError("stuck_min must be >= 0")
        if not 0.0 < self._alert_level <= 1.0:
            raise ValueError("alert_level must be in (0, 1]")

    @classmethod
    def for_interval(cls, interval_seconds: float, **overrides: Any) -> PatternDetector:
        """A detector whose durations match the NAB calibration at this sampling interval.

        The defaults describe 5-minute samples.  For a shorter interval, one evaluation
        covers several samples (``stride``) so that buckets, window, holdoff, warm-up and
        the novelty statistics keep their durations; memory and per-evaluation cost stay
        the same and the per-sample cost drops.
        """
        if not interval_seconds > 0.0:
            raise ValueError("interval_seconds must be > 0")
        params: dict[str, Any] = {"stride": max(1, round(300.0 / interval_seconds))}
        params.update(overrides)
        return cls(**params)

    @property
    def ready(self) -> bool:
        """True once the warm-up is over and scores can be non-zero."""
        return self._evals >= self._warmup

    @property
    def samples(self) -> int:
        """Number of finite samples learned from so far."""
        return self._n

    def update(self, timestamp: float, value: float) -> float:
        """Learn from one sample and return its anomaly score in [0, 1].

        The score depends only on this sample and the ones before it.
        """
        del timestamp  # sample-count based; see the module docstring
        try:
            x = float(value)
        except (TypeError, ValueError):
            return 0.0
        if not math.isfinite(x):
            return 0.0
        if x > _CLIP:
            x = _CLIP
        elif x < -_CLIP:
            x = -_CLIP
        score = max(self._range_novelty(x), self._stuck_novelty(x))
        self._n += 1
        self._sub_n += 1
        if self._sub_n == 1:
            self._sub_sum = self._sub_max = self._sub_min = x
        else:
            self._sub_sum += x
            self._sub_max = max(self._sub_max, x)
            self._sub_min = min(self._sub_min, x)
        if self._sub_n >= self._stride:
            self._held = self._end_sub_bucket()
        return self._apply_holdoff(max(score, self._held))

    # -- the steps of the module docstring -----------------------------------------------

    def _range_novelty(self, x: float) -> float:
        """Step 5: score of x beyond the raw range seen so far; widens that range."""
        if self._n == 0:
            self._raw_lo = self._raw_hi = x
            return 0.0
        score = 0.0
        span = self._raw_hi - self._raw_lo
        if span > 0.0 and self._n >= self._warmup * self._stride:
            excess = max(x - self._raw_hi, self._raw_lo - x) / span
            if excess > self._range_margin:
                # Larger excursions rank higher, all above any pattern score.
                score = 0.99 + 0.01 * min(1.0, excess)
        if x < self._raw_lo:
            self._raw_lo = x
        elif x > self._raw_hi:
            self._raw_hi = x
        return score

    def _stuck_novelty(self, x: float) -> float:
        """Step 5b: a run of one repeated value that just outlasted every earlier run."""
        if self._n > 0 and x == self._raw_last:
            self._run += 1
        else:
            self._run_record = max(self._run_record, self._run)
            self._run = 1
        self._raw_last = x
        # Scored once per run, when it passes the record (a series that never changed has
        # no record and never scores); a long record makes later records rare.
        if (
            self._stuck_min > 0
            and self._run_record > 0
            and self._run == max(self._stuck_min * self._stride, self._run_record + 1)
            and self._n >= self._warmup * self._stride
        ):
            return _STUCK_SCORE
        return 0.0

    def _end_sub_bucket(self) -> float:
        """Steps 1-4 for the sub-bucket just completed; returns its pattern score."""
        subs = self._subs
        subs[:-3] = subs[3:]
        subs[-3], subs[-2], subs[-1] = self._sub_sum / self._sub_n, self._sub_max, self._sub_min
        self._sub_n = 0
        self._evals += 1
        if self._subs_fill < self._bucket:
            self._subs_fill += 1
            if self._subs_fill < self._bucket:
                return 0.0
        value = self._bucket_value()
        self._push_bucket_value(value)
        if self._ring_fill < len(self._ring):
            return 0.0
        novelty = self._novelty(self._features())
        score = self._likelihood(novelty)
        return score if self._evals > self._warmup else 0.0

    def _bucket_value(self) -> float:
        """Step 1: the mean of the last bucket, or its extreme when that is a spike."""
        subs = self._subs
        mean = sum(subs[0::3]) / self._bucket
        high, low = max(subs[1::3]), min(subs[2::3])
        if self._subs_fill == self._bucket and self._ring_fill == 0:
            self._bucket_ma = mean
        else:
            self._bucket_ma += self._ma_rate * (mean - self._bucket_ma)
        ma = self._bucket_ma
        value = high if abs(high - ma) >= abs(low - ma) else low
        if abs(value - mean) < _SPIKE_SHARE * abs(mean):
            value = mean
        return value

    def _push_bucket_value(self, value: float) -> None:
        ring = self._ring
        ring[self._ring_pos] = value
        self._ring_pos = (self._ring_pos + 1) % len(ring)
        self._ring_fill = min(len(ring), self._ring_fill + 1)
        if self._ring_fill == 1:
            self._lo = self._hi = value
            return
        old_lo, old_hi = self._lo, self._hi
        if value < old_lo:
            self._lo = value
        elif value > old_hi:
            self._hi = value
        else:
            return
        if old_hi > old_lo:
            self._remap_levels(old_lo, old_hi)

    def _remap_levels(self, old_lo: float, old_hi: float) -> None:
        """Re-express the stored boxes' level bounds in the grown range (step 3)."""
        q = self._levels
        scale = (old_hi - old_lo) / (self._hi - self._lo)
        offset = (old_lo - self._lo) / (self._hi - self._lo) * q

        # Only bounds 0..q occur; the rest of the table is the identity.  A trending series
        # grows its range at most evaluations, so this runs often there.
        def table(rounding: Any) -> bytes:
            low = bytes(min(q, max(0, int(rounding(c * scale + offset)))) for c in range(q + 1))
            return low + bytes(range(q + 1, 256))

        w = self._window
        self._memory.remap(range(w, 2 * w), table(math.floor), table(math.ceil))

    def _features(self) -> list[int]:
        """Step 2: shape then level features of the last `window` buckets, oldest first."""
        ring, pos, step = self._ring, self._ring_pos, self._bucket
        size = len(ring)
        values = [ring[(pos - 1 - step * k) % size] for k in range(self._window - 1, -1, -1)]
        lo = self._lo
        span = self._hi - lo
        q = self._levels
        if span > 0.0:
            level = [int(q * (v - lo) / span + 0.5) for v in values]
        else:
            level = [0] * self._window
        low, high = min(level), max(level)
        qs = self._shape_levels
        if high > low:
            rise = high - low
            shape = [int(qs * (v - low) / rise + 0.5) for v in level]
        else:
            shape = [0] * self._window
        return shape + level

    def _novelty(self, features: Sequence[int]) -> float:
        """Step 3: 1 - best fuzzy-ART match before learning; then learn the window."""
        memory = self._memory
        full = self._window * (self._levels + self._shape_levels)
        known = len(memory)
        units, index = memory.nearest(features)
        novelty = units / full if index >= 0 else 1.0
        if index >= 0 and 1.0 - novelty >= self._vigilance:
            memory.expand(index, features)
        else:
            memory.insert(features)
        # With fewer than two boxes there is nothing to compare with yet.
        return novelty if known > 1 else 0.0

    def _likelihood(self, novelty: float) -> float:
        """Step 4: pattern score of this novelty against the series' own novelty history."""
        score = 0.0
        n = self._nov_fill
        if n >= _MIN_HISTORY:
            mean = self._nov_sum / (n * _NOV_UNITS)
            var = max(0.0, self._nov_sq / (n * _NOV_UNITS * _NOV_UNITS) - mean * mean)
            z = (novelty - mean) / (math.sqrt(var) + _SD_FLOOR)
            score = min(_PATTERN_CAP, _tail_decades(z) / self._decades)
        # Quantised to one byte so a long history fits the state budget; integer sums
        # are exact, so they never drift however long the series runs.
        q = int(novelty * _NOV_UNITS + 0.5)
        ring, pos = self._nov_ring, self._nov_pos
        if n == len(ring):
            old = ring[pos]
            self._nov_sum -= old
            self._nov_sq -= old * old
        else:
            self._nov_fill = n + 1
        ring[pos] = q
        self._nov_sum += q
        self._nov_sq += q * q
        self._nov_pos = (pos + 1) % len(ring)
        return score

    def _apply_holdoff(self, score: float) -> float:
        """Step 6: silence after an alert."""
        self._quiet += 1
        if self._quiet <= self._holdoff * self._stride:
            return 0.0
        if score >= self._alert_level:
            self._quiet = 0
        return score

    # -- persistence ---------------------------------------------------------------------

    def _shape(self) -> dict[str, int]:
        """What a saved state must match to be loaded (the sizes of the learned arrays)."""
        return {
            "bucket": self._bucket,
            "window": self._window,
            "levels": self._levels,
            "capacity": self._memory.capacity,
            "history": self._history,
        }

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot of everything learned (no tunables except sizes)."""
        return {
            "version": STATE_VERSION,
            "shape": self._shape(),
            "n": self._n,
            "evals": self._evals,
            "raw_range": [self._raw_lo, self._raw_hi],
            "stuck": [self._run, self._run_record, self._raw_last],
            "sub": [self._sub_n, self._sub_sum, self._sub_max, self._sub_min],
            "subs": list(self._subs),
            "subs_fill": self._subs_fill,
            "bucket_ma": self._bucket_ma,
            "ring": list(self._ring),
            "ring_pos": self._ring_pos,
            "ring_fill": self._ring_fill,
            "range": [self._lo, self._hi],
            "novelty": [self._nov_pos, self._nov_fill, _b64(self._nov_ring)],
            "quiet": self._quiet,
            "held": self._held,
            "memory": self._memory.state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], warmup: int = 150, **params: Any) -> PatternDetector:
        """A detector with these tunables that resumes from ``state()``'s snapshot.

        Raises ValueError when the snapshot is malformed or was taken with other sizes.
        """
        det = cls(warmup, **params)
        try:
            det._load(state)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed detector state: {exc}") from exc
        return det

    def _load(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"detector state version {state.get('version')!r} is not {STATE_VERSION}"
            )
        if state["shape"] != self._shape():
            raise ValueError(
                f"detector state was saved with sizes {state['shape']!r}, not {self._shape()!r}"
            )
        subs = array("d", [_finite(v) for v in state["subs"]])
        ring = array("d", [_finite(v) for v in state["ring"]])
        if len(subs) != len(self._subs) or len(ring) != len(self._ring):
            raise ValueError("detector state has buffers of the wrong length")
        self._memory.load_state(state["memory"])
        self._n, self._evals = _count(state["n"]), _count(state["evals"])
        self._raw_lo, self._raw_hi = (_finite(v) for v in state["raw_range"])
        # A snapshot from before stuck novelty has no runs: they are re-learned (no record,
        # so nothing scores until a run has ended).
        run, record, last = state.get("stuck", (0, 0, 0.0))
        self._run, self._run_record, self._raw_last = _count(run), _count(record), _finite(last)
        sub_n, sub_sum, sub_max, sub_min = state["sub"]
        self._sub_n = _count(sub_n, self._stride - 1)
        self._sub_sum, self._sub_max, self._sub_min = (
            _finite(v) for v in (sub_sum, sub_max, sub_min)
        )
        self._subs, self._ring = subs, ring
        self._subs_fill = _count(state["subs_fill"], self._bucket)
        self._bucket_ma = _finite(state["bucket_ma"])
        self._ring_pos = _count(state["ring_pos"], len(ring) - 1)
        self._ring_fill = _count(state["ring_fill"], len(ring))
        self._lo, self._hi = (_finite(v) for v in state["range"])
        self._load_novelty(state["novelty"])
        self._quiet = _count(state["quiet"])
        self._held = min(1.0, max(0.0, _finite(state["held"])))

    def _load_novelty(self, saved: Any) -> None:
        pos, fill, data = saved
        ring = array("B", base64.b64decode(data))
        if len(ring) != self._history:
            raise ValueError("detector state has a novelty history of the wrong length")
        self._nov_pos = _count(pos, self._history - 1)
        self._nov_fill = _count(fill, self._history)
        if self._nov_fill < self._history and self._nov_pos != self._nov_fill:
            raise ValueError("detector state has an inconsistent novelty history")
        self._nov_ring = ring
        # The sums are derived, not stored, so a snapshot cannot make them disagree.
        live = ring[: self._nov_fill]
        self._nov_sum = sum(live)
        self._nov_sq = sum(q * q for q in live)


def _b64(data: array[int]) -> str:
    return base64.b64encode(data.tobytes()).decode("ascii")


def _finite(value: Any) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError("detector state holds a non-finite number")
    return x


def _count(value: Any, limit: Optional[int] = None) -> int:
    n = int(value)
    if n < 0 or (limit is not None and n > limit):
        raise ValueError(f"detector state holds a count out of range: {value!r}")
    return n
