"""Delivery counters per receiver and the metric families they expose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge

# Seconds from enqueue to acceptance: a healthy receiver answers within the first buckets, a
# receiver that was down shows up in the last ones.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
LATENCY = "aiops_agent_notifications_delivery_latency_seconds"


class ReceiverStats:
    """Written by the submitting thread and the receiver's delivery thread, read by /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted = 0
        self.attempts = 0
        self.sent = 0
        self.resends = 0
        self.failures: dict[str, int] = {}  # by kind: retry, dead
        self.dead_letters = 0
        self.dropped: dict[str, int] = {}  # by reason: max_items, max_age, closed
        self.write_errors = 0
        self.durable = 1.0  # 0 while notifications wait in memory because the outbox failed
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def add_to(self, table: str, reason: str, amount: int = 1) -> None:
        with self._lock:
            counts: dict[str, int] = getattr(self, table)
            counts[reason] = counts.get(reason, 0) + amount

    def observe_latency(self, seconds: float) -> None:
        with self._lock:
            self.latency_sum += seconds
            self.latency_count += 1
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.buckets[index] += 1


def families(stats: Mapping[str, ReceiverStats], depth: Callable[[str], int]) -> list[MetricFamily]:
    names = sorted(stats)

    def each(pick: Callable[[ReceiverStats], float]) -> list[Sample]:
        return [Sample((("receiver", n),), float(pick(stats[n]))) for n in names]

    def by_reason(table: str, label: str) -> list[Sample]:
        return [
            Sample((("receiver", n), (label, reason)), float(count))
            for n in names
            for reason, count in sorted(getattr(stats[n], table).items())
        ]

    return [
        gauge(
            "aiops_agent_outbox_queue_depth",
            "Notifications waiting for delivery.",
            [Sample((("receiver", n),), float(depth(n))) for n in names],
        ),
        gauge(
            "aiops_agent_outbox_durable",
            "1 if the latest write to the receiver's outbox succeeded; 0 while writes fail and "
            "notifications are kept in memory instead.",
            each(lambda s: s.durable),
        ),
        counter(
            "aiops_agent_outbox_write_errors_total",
            "Notifications the outbox could not store (full disk, unwritable state directory); "
            "they are kept in memory and delivered directly.",
            each(lambda s: s.write_errors),
        ),
        counter(
            "aiops_agent_outbox_dropped_total",
            "Undelivered notifications dropped: too many queued, too old, or in memory at stop.",
            by_reason("dropped", "reason"),
        ),
        counter(
            "aiops_agent_notifications_submitted_total",
            "Notifications routed to the receiver.",
            each(lambda s: s.submitted),
        ),
        counter(
            "aiops_agent_notifications_attempts_total",
            "Delivery attempts, retries included.",
            each(lambda s: s.attempts),
        ),
        counter(
            "aiops_agent_notifications_sent_total",
            "Notifications the receiver accepted.",
            each(lambda s: s.sent),
        ),
        counter(
            "aiops_agent_notifications_resends_total",
            "Active alerts re-sent so the receiver keeps them (Alertmanager).",
            each(lambda s: s.resends),
        ),
        counter(
            "aiops_agent_notifications_failures_total",
            "Failed attempts: retry (transient, tried again), dead (rejected for good) or resend.",
            by_reason("failures", "kind"),
        ),
        counter(
            "aiops_agent_notifications_dead_letters_total",
            "Notifications the receiver rejected for good (4xx); kept aside, not retried.",
            each(lambda s: s.dead_letters),
        ),
        MetricFamily(
            LATENCY,
            "histogram",
            "Seconds from enqueue to acceptance by the receiver.",
            [sample for n in names for sample in _histogram(n, stats[n])],
        ),
    ]


def _histogram(name: str, stats: ReceiverStats) -> list[Sample]:
    receiver = ("receiver", name)
    samples = [
        Sample((receiver, ("le", f"{bound:g}")), float(count), "_bucket")
        for bound, count in zip(LATENCY_BUCKETS, stats.buckets)
    ]
    samples.append(Sample((receiver, ("le", "+Inf")), float(stats.latency_count), "_bucket"))
    samples.append(Sample((receiver,), stats.latency_sum, "_sum"))
    samples.append(Sample((receiver,), float(stats.latency_count), "_count"))
    return samples
