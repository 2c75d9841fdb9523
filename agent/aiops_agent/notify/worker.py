"""One delivery thread per receiver: a slow or dead receiver delays nothing but its own queue.
It delivers the queue in enqueue order (a resolve never overtakes its trigger), backs the whole
receiver off after a transient failure (exponential, with jitter, at least Retry-After), and
dead-letters what the receiver rejects for good."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from typing import Optional

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.config.notify_schema import OutboxSection
from aiops_agent.notify.grouping import Grouper, Grouping, Notification, single
from aiops_agent.notify.outcome import DEAD, OK, Outcome, describe_error, retry
from aiops_agent.notify.queue import DurableQueue, GroupChanges, Item
from aiops_agent.notify.senders import Sender
from aiops_agent.notify.stats import ReceiverStats

log = logging.getLogger("aiops_agent.notify")

IDLE_WAIT = 60.0  # longest sleep with nothing to do; expiry checks need no finer grain
ERROR_WAIT = 5.0  # after an unexpected error in the loop itself


class DeliveryWorker:
    def __init__(
        self,
        name: str,
        sender: Sender,
        *,
        queue: DurableQueue,
        settings: OutboxSection,
        stats: ReceiverStats,
        errors: RateLimitedLog,
        max_groups: int = 1000,
    ) -> None:
        self.name = name
        self.queue = queue
        self._sender = sender
        self._settings = settings
        self._retired: list[Sender] = []
        self._stats = stats
        self._errors = errors
        self._lock = threading.Lock()  # guards _sender, _settings, _retired
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"notify-{name}", daemon=True)
        self._failures = 0  # consecutive transient failures
        self._blocked_until = 0.0
        self._next_expiry = 0.0
        # Alerts re-sent while active (Alertmanager): fingerprint -> (latest event, resend until).
        self._active: dict[str, tuple[AlertEvent, Optional[float]]] = {}
        self._next_resend = 0.0
        # Fingerprints whose resolve was submitted and is not delivered yet (see reconcile).
        self._resolving: set[str] = set()
        # Notification groups (grouping.py), used by the submitting thread only; saved in the
        # outbox with the notifications they produce.
        self.grouper = Grouper(max_groups)

    def start(self) -> None:
        if self._sender.resend_interval is not None:
            self._active = {
                event.fingerprint: (event, until) for event, until in self.queue.active()
            }
        groups, skipped = self.queue.groups()
        self.grouper.restore(groups)
        if skipped:
            log.error(
                "skipping saved notification groups that do not check out",
                extra={"receiver": self.name, "count": skipped},
            )
        self._thread.start()

    def submit(self, routed: list[tuple[AlertEvent, Grouping]], now: float) -> None:
        """Called by the submitting thread with the events routed here and their route's
        grouping: the notifications due are written to the outbox (with the groups' new state),
        then the delivery thread is woken."""
        if not self._sender.groups:
            self._enqueue([single(event) for event, _ in routed], now, {})
            return
        overflowed = self.grouper.overflowed
        for event, grouping in routed:
            self.grouper.add(event, grouping, now)
        if self.grouper.overflowed > overflowed:
            self._errors.error(
                f"notify-groups:{self.name}",
                "more notification groups than grouping.max_groups; further alerts share an "
                "overflow group per route",
                receiver=self.name,
                max_groups=self.grouper.max_groups,
            )
        self._enqueue(self.grouper.flush(now), now, self.grouper.changes())

    def tick(self, now: float) -> None:
        """Called by the submitting thread after each evaluation: groups whose wait, interval or
        repeat interval ran out are notified. So these take effect at the evaluation after
        they end: rounded up to agent.interval."""
        if len(self.grouper):
            self._enqueue(self.grouper.flush(now), now, self.grouper.changes())

    def _enqueue(self, notifications: list[Notification], now: float, groups: GroupChanges) -> None:
        if not notifications and not groups:
            return
        self._stats.add("submitted", len(notifications))
        if self._sender.resend_interval is not None:
            for event in (e for n in notifications for e in n.alerts):
                if event.status == "resolved":
                    self._resolving.add(event.fingerprint)
                else:
                    self._resolving.discard(event.fingerprint)
        self.queue.add(notifications, now, groups)
        if notifications:
            self._wake.set()

    def reconcile(self, live: set[str], now: float) -> None:
        """Called by the evaluating thread with the alerts it tracks (pending or firing), right
        after it submitted that evaluation's events. A firing alert this receiver keeps re-sending
        but the evaluator no longer tracks, and whose resolve is not on its way, would be re-sent
        (and kept active by Alertmanager) forever: it fired in a previous run of the agent (alerts
        live in memory, the re-send list in the outbox) and its condition ended or its rule went
        away while the agent was down, or it fired just before a restart with its notification
        still queued. Resolve it now, through the queue like any other notification."""
        if self._sender.resend_interval is None:
            return
        stale = [
            event
            for fingerprint, (event, until) in self._active.copy().items()
            if until is None
            and event.status == "firing"
            and fingerprint not in live
            and fingerprint not in self._resolving
        ]
        if not stale:
            return
        log.info(
            "resolving re-sent alerts the evaluator no longer tracks",
            extra={"receiver": self.name, "count": len(stale)},
        )
        resolves = [
            dataclasses.replace(event, status="resolved", ends_at=now, sequence=event.sequence + 1)
            for event in stale
        ]
        self._enqueue([single(event) for event in resolves], now, {})

    def update(self, sender: Sender, settings: OutboxSection) -> None:
        """Take a reloaded configuration. The old sender may be mid-request: it is closed by the
        delivery thread once that request is over."""
        with self._lock:
            self._retired.append(self._sender)
            self._sender, self._settings = sender, settings
            self.queue.settings = settings
        self._blocked_until = 0.0  # a fixed URL or key deserves an immediate try
        self._failures = 0
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Stop within `timeout`. What is undelivered stays in the outbox for the next start; a
        request still in flight is abandoned (the thread is a daemon) and re-sent then."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(max(timeout, 0.0))
        if not self._thread.is_alive():
            with self._lock:
                for sender in [*self._retired, self._sender]:
                    sender.close()
        self.queue.close()

    # --- the delivery thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                wait = self._step(time.time())
            except Exception as error:  # the thread must survive anything one step does
                self._errors.error(
                    f"notify-loop:{self.name}",
                    "delivery loop failed",
                    receiver=self.name,
                    error=type(error).__name__,
                )
                wait = ERROR_WAIT
            if wait > 0:
                self._wake.wait(wait)

    def _step(self, now: float) -> float:
        """Do one unit of work; return how long to sleep (0: more work is waiting)."""
        with self._lock:
            sender, settings, retired, self._retired = (
                self._sender,
                self._settings,
                self._retired,
                [],
            )
        for old in retired:
            old.close()
        if now >= self._next_expiry:
            self.queue.expire(now - settings.max_age)
            self._next_expiry = now + min(IDLE_WAIT, settings.max_age / 10)
        self.queue.retry_removals()
        if now < self._blocked_until:
            return min(self._blocked_until, self._next_expiry) - now
        batch = self.queue.head(sender.max_batch)
        if batch:
            self._deliver(sender, settings, batch)
            return 0.0
        return self._resend_active(sender, now)

    def _deliver(self, sender: Sender, settings: OutboxSection, batch: list[Item]) -> None:
        self._stats.add("attempts", len(batch))
        outcome = _send(sender, [item.notification for item in batch])
        finished = time.time()
        if outcome.kind == OK:
            self.queue.remove(batch)
            self._stats.add("sent", len(batch))
            for item in batch:
                self._stats.observe_latency(max(finished - item.created, 0.0))
            if self._failures:
                log.info("receiver accepts notifications again", extra={"receiver": self.name})
            self._failures = 0
            events = [event for item in batch for event in item.notification.alerts]
            self._remember(sender, events, finished)
        elif outcome.kind == DEAD:
            self.queue.dead_letter(batch, outcome.reason)
            self._stats.add_to("failures", DEAD, len(batch))
            self._stats.add("dead_letters", len(batch))
            log.error(
                "receiver rejected notifications; dead-lettered, not retried",
                extra={
                    "receiver": self.name,
                    "reason": outcome.reason,
                    "count": len(batch),
                    "idempotency_keys": ",".join(item.key for item in batch),
                },
            )
        else:
            self._failures += 1
            self._stats.add_to("failures", "retry", len(batch))
            delay = backoff(settings, self._failures, outcome.retry_after)
            self._blocked_until = finished + delay
            self._errors.error(
                f"notify-retry:{self.name}",
                "delivery failed; will retry",
                receiver=self.name,
                reason=outcome.reason,
                retry_in_seconds=round(delay, 3),
                consecutive_failures=self._failures,
            )

    # --- re-sending active alerts (Alertmanager) ----------------------------------------------
    def _remember(self, sender: Sender, events: list[AlertEvent], now: float) -> None:
        if sender.resend_interval is None:
            return
        for event in events:
            if event.status == "firing" or sender.resolve_resend_for > 0:
                until = None if event.status == "firing" else now + sender.resolve_resend_for
                self._active[event.fingerprint] = (event, until)
                self.queue.set_active(event, until)
            else:
                self._active.pop(event.fingerprint, None)
                self.queue.clear_active([event.fingerprint])
            if event.status == "resolved":
                self._resolving.discard(event.fingerprint)

    def _resend_active(self, sender: Sender, now: float) -> float:
        idle = max(min(IDLE_WAIT, self._next_expiry - now), 0.01)
        interval = sender.resend_interval
        if interval is None or not self._active:
            return idle
        if now < self._next_resend:
            return min(self._next_resend - now, idle)
        expired = [
            fp for fp, (_, until) in self._active.items() if until is not None and until < now
        ]
        for fingerprint in expired:
            del self._active[fingerprint]
        self.queue.clear_active(expired)
        events = [event for event, _ in self._active.values()]
        for start in range(0, len(events), sender.max_batch):
            chunk = events[start : start + sender.max_batch]
            self._stats.add("resends", len(chunk))
            outcome = _send(sender, [single(event) for event in chunk])
            if outcome.kind != OK:
                # The next interval tries again; endsAt leaves room for a few missed ones.
                self._stats.add_to("failures", "resend", len(chunk))
                self._errors.error(
                    f"notify-resend:{self.name}",
                    "re-sending active alerts failed",
                    receiver=self.name,
                    reason=outcome.reason,
                )
                break
        self._next_resend = now + interval
        return min(interval, idle)


def backoff(settings: OutboxSection, failures: int, retry_after: Optional[float]) -> float:
    """base x 2^(failures-1), capped, times a random 0.5-1.0 so agents that saw the same outage
    do not all retry in step; never sooner than the receiver's Retry-After (itself capped)."""
    exponent = min(failures - 1, 32)
    delay: float = min(settings.backoff_max, settings.backoff_base * 2.0**exponent)
    delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_retry_after))
    return delay


def _send(sender: Sender, notifications: list[Notification]) -> Outcome:
    try:
        return sender.send(notifications)
    except Exception as error:  # a sender bug must not stop delivery of everything else
        return retry(f"sender error ({describe_error(error, sender.secrets)})")
