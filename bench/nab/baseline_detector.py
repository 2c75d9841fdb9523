"""The agent's previous anomaly detector (before PatternDetector), kept only for the comparison
row of bench/nab/RESULTS.md; the agent does not ship it.

``BaselineDetector`` learns what is normal for a single series online and turns
each new sample into an anomaly score in [0, 1].  It was chosen by measurement on
the Numenta Anomaly Benchmark (NAB) dev split; see ``bench/nab/RESULTS.md`` for
the candidates that were tried and the scores.

The score combines three kinds of evidence, each expressed as *decades of
surprise* (-log10 of a tail probability), and takes the strongest:

1. **Level** -- how far the sample is from an exponentially weighted mean, in
   units of an exponentially weighted standard deviation (West 1979 / Finch 2009
   incremental EWMA mean and variance), converted to the two-sided Gaussian tail
   probability.  Working in log-probability rather than probability keeps large
   deviations apart instead of rounding them all to 1.0.
2. **Change** -- a two-sided CUSUM (Page 1954) on the clipped z-scores.  A
   sustained small shift that never produces one large z-score still
   accumulates evidence here.
3. **Range novelty** -- a value beyond everything seen so far by more than a
   margin of the observed range.  This is the "spatial anomaly" rule that
   Numenta's NAB detector adds on top of HTM; on NAB it is the single strongest
   cue for server metrics.

Decades ``d`` map to a score by ``1 - 10 ** (-d / decades)``, i.e. the score is
``1 - p ** (1 / decades)`` for the tail probability ``p``.  With the default
``decades=10`` a score of 0.9 means p = 1e-10, 0.99 means p = 1e-20.

A **holdoff** then suppresses re-alerts: for ``holdoff`` samples after a score
record, only a sample that beats that record keeps its score; the others are
halved.  NAB (like an on-call human) rewards the first alert of an incident and
charges for every repeat outside it.

Everything is O(1) time and memory per sample: a handful of floats, no buffers.
Timestamps are accepted for interface stability but not used: the detector
counts samples, so repeated or backwards timestamps cannot disturb it.
"""

from __future__ import annotations

import math

__all__ = ["BaselineDetector"]

_LN10 = math.log(10.0)
_LN2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
# Below this z, erfc() is accurate in double precision; above it we switch to the
# asymptotic expansion of the Gaussian tail so log(Q(z)) never hits log(0).
_ERFC_LIMIT = 25.0
# z-scores fed to the CUSUM are clipped so that one wild spike (already caught by
# the level test) cannot dominate the change statistic for a long time.
_CUSUM_CLIP = 6.0
# Upper bound on the CUSUM statistics: keeps state bounded on pathological input
# while being far above anything that matters for the score.
_CUSUM_CAP = 1.0e6
# Samples re-scored during a holdoff are multiplied by this factor.
_HOLDOFF_DAMP = 0.5


def _gaussian_decades(z: float) -> float:
    """-log10 of the two-sided Gaussian tail probability P(|Z| >= z)."""
    if z <= 0.0:
        return 0.0
    if z < _ERFC_LIMIT:
        p = math.erfc(z / _SQRT2)  # = 2 * Q(z)
        return -math.log(p) / _LN10
    # log Q(z) ~ -z^2/2 - log(z) - log(sqrt(2 pi)), accurate to <0.2% for z >= 25.
    log_q = -0.5 * z * z - math.log(z) - _LOG_SQRT_2PI
    return -(log_q + _LN2) / _LN10


class BaselineDetector:
    """Online anomaly score in [0, 1] for one metric series.

    Args:
        warmup: samples to learn from before scoring; until then ``update``
            returns 0.0.
        alpha: EWMA smoothing factor for the baseline mean and variance
            (memory of about ``1/alpha`` samples).
        cusum_k: CUSUM allowance, in standard deviations.  Shifts smaller than
            this are treated as noise.
        cusum_weight: decades of evidence per standard deviation of accumulated
            CUSUM drift.
        range_margin: fraction of the observed range a value must exceed the
            observed min/max by to count as range novelty (0 disables it).
        holdoff: samples after a score record during which only a higher score
            is reported unchanged (0 disables it).
        decades: decades of surprise that map to a score of 0.9.
    """

    __slots__ = (
        "_alpha",
        "_cusum_hi",
        "_cusum_k",
        "_cusum_lo",
        "_cusum_weight",
        "_decades",
        "_hi",
        "_holdoff",
        "_lo",
        "_mean",
        "_n",
        "_peak",
        "_peak_age",
        "_range_margin",
        "_var",
        "_warmup",
    )

    def __init__(
        self,
        warmup: int = 150,
        *,
        alpha: float = 0.01,
        cusum_k: float = 2.0,
        cusum_weight: float = 0.3,
        range_margin: float = 0.05,
        holdoff: int = 100,
        decades: float = 10.0,
    ) -> None:
        if warmup < 1:
            raise ValueError("warmup must be >= 1")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if cusum_k < 0.0 or cusum_weight < 0.0 or range_margin < 0.0 or holdoff < 0:
            raise ValueError("cusum_k, cusum_weight, range_margin and holdoff must be >= 0")
        if decades <= 0.0:
            raise ValueError("decades must be > 0")
        self._warmup = int(warmup)
        self._alpha = float(alpha)
        self._cusum_k = float(cusum_k)
        self._cusum_weight = float(cusum_weight)
        self._range_margin = float(range_margin)
        self._holdoff = int(holdoff)
        self._decades = float(decades)
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self._lo = 0.0
        self._hi = 0.0
        self._cusum_hi = 0.0
        self._cusum_lo = 0.0
        self._peak = 0.0
        self._peak_age = 0

    @property
    def ready(self) -> bool:
        """True once the warm-up is over and scores can be non-zero."""
        return self._n >= self._warmup

    @property
    def samples(self) -> int:
        """Number of finite samples learned from so far."""
        return self._n

    def update(self, timestamp: float, value: float) -> float:
        """Learn from one sample and return its anomaly score in [0, 1].

        The score is computed against the state *before* the sample (no
        look-ahead).  Non-finite values score 0.0 and leave the state untouched.
        """
        del timestamp  # sample-count based; see the module docstring
        try:
            x = float(value)
        except (TypeError, ValueError):
            return 0.0
        if not math.isfinite(x):
            return 0.0
        n = self._n
        self._n = n + 1
        if n == 0:
            self._mean = self._lo = self._hi = x
            return 0.0

        decades = self._evidence(x)
        self._learn(x, n)
        if n < self._warmup:
            return 0.0
        score = 1.0 - 10.0 ** (-decades / self._decades)
        return self._apply_holdoff(score)

    def _evidence(self, x: float) -> float:
        """Decades of surprise of x against the current baseline; updates CUSUM."""
        mean = self._mean
        # Floor on the scale: a perfectly flat series must not divide by zero,
        # and a flat series at a large level tolerates relative jitter of 1e-6.
        sd = math.sqrt(self._var) + 1e-9 + 1e-6 * abs(mean)
        z = (x - mean) / sd
        decades = _gaussian_decades(abs(z))

        if self._cusum_weight > 0.0:
            zc = max(-_CUSUM_CLIP, min(_CUSUM_CLIP, z))
            k = self._cusum_k
            self._cusum_hi = min(_CUSUM_CAP, max(0.0, self._cusum_hi + zc - k))
            self._cusum_lo = min(_CUSUM_CAP, max(0.0, self._cusum_lo - zc - k))
            drift = max(self._cusum_hi, self._cusum_lo)
            decades = max(decades, self._cusum_weight * drift)

        span = self._hi - self._lo
        if self._range_margin > 0.0 and span > 0.0:
            excess = max(x - self._hi, self._lo - x) / span
            if excess > self._range_margin:
                # Rank novelty above any ordinary level alarm (>= 0.999 with
                # defaults) but keep larger excursions scoring higher.
                decades = max(decades, 3.0 * self._decades * (1.0 + excess))
        return decades

    def _learn(self, x: float, n: int) -> None:
        """Fold x into the baseline (EWMA mean/variance and min/max)."""
        # During warm-up use 1/(n+1) so the first samples give the plain mean and
        # variance instead of being biased towards the first value.
        a = max(self._alpha, 1.0 / (n + 1))
        d = x - self._mean
        self._mean += a * d
        self._var = (1.0 - a) * (self._var + a * d * d)
        if x < self._lo:
            self._lo = x
        elif x > self._hi:
            self._hi = x

    def _apply_holdoff(self, score: float) -> float:
        """Let through new score records; damp repeats within the holdoff."""
        if self._holdoff == 0:
            return score
        self._peak_age += 1
        if self._peak_age > self._holdoff:
            self._peak = 0.0
        if score > self._peak:
            self._peak = score
            self._peak_age = 0
            return score
        return score * _HOLDOFF_DAMP
