"""The sink the alerting side submits events to: routes each event to its receivers, hands it to
each receiver's queue and delivery thread, and exposes their metrics. Log receivers are written
directly (nothing to retry, no thread, no outbox); the others get a durable outbox each, so
sqlite3 is imported only when such a receiver exists."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Callable

from aiops_agent import __version__
from aiops_agent.base.events import AlertEvent
from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.base.naming import host_name
from aiops_agent.config.notify_schema import DEFAULT_RECEIVER, LogReceiver, Receiver
from aiops_agent.config.schema import Config
from aiops_agent.notify.grouping import Grouping, Notification, single
from aiops_agent.notify.routing import Router
from aiops_agent.notify.senders import Context, Sender, secret_values
from aiops_agent.notify.stats import ReceiverStats, families

if TYPE_CHECKING:
    from aiops_agent.notify.worker import DeliveryWorker

log = logging.getLogger("aiops_agent.notify")

OUTBOX_DIR = "outbox"
REMOVED_RECEIVER_TIMEOUT = 2.0  # a receiver dropped on reload gets this long to finish a request
# Receiver type -> its sender, built as factory(settings, context).
SENDERS = LazyRegistry(
    {
        "log": "aiops_agent.notify.senders.log:LogSender",
        "webhook": "aiops_agent.notify.senders.webhook:build",
        "slack": "aiops_agent.notify.senders.slack:build",
        "pagerduty": "aiops_agent.notify.senders.pagerduty:build",
        "alertmanager": "aiops_agent.notify.senders.alertmanager:build",
        "email": "aiops_agent.notify.senders.email:EmailSender",
    }
)


def build_sender(receiver: Receiver, context: Context) -> Sender:
    sender: Sender = SENDERS.load(receiver.type)(receiver.settings, context)
    sender.secrets = secret_values(receiver.settings)
    return sender


class Dispatcher:
    def __init__(self, config: Config, state_dir: str, public_url: Callable[[], str]) -> None:
        self._public_url = public_url
        self._outbox_dir = os.path.join(state_dir, OUTBOX_DIR) if state_dir else None
        self._lock = threading.Lock()  # guards the tables below against reconfigure()
        self._errors = RateLimitedLog(log)
        self._receivers: dict[str, tuple[Receiver, Context]] = {}
        self._direct: dict[str, Sender] = {}
        self._workers: dict[str, DeliveryWorker] = {}
        self._stats: dict[str, ReceiverStats] = {}
        self._router = Router([])
        self.reconfigure(config)

    # --- sink -----------------------------------------------------------------------------
    def submit(self, events: list[AlertEvent]) -> None:
        """Route and enqueue. Returns once each event is in every receiver's outbox (or, when an
        outbox cannot write, in memory, counted); never waits for a receiver."""
        with self._lock:
            router, direct, workers, stats = self._router, self._direct, self._workers, self._stats
        targets: dict[str, list[tuple[AlertEvent, Grouping]]] = {}
        for event in events:
            for name, grouping in router.route(event.labels):
                targets.setdefault(name, []).append((event, grouping))
        now = time.time()
        for name, batch in targets.items():
            try:
                worker = workers.get(name)
                if worker is not None:
                    worker.submit(batch, now)
                elif name in direct:
                    notifications = [single(event) for event, _ in batch]
                    self._deliver_directly(name, direct[name], stats[name], notifications)
            except Exception as error:  # one receiver's failure must not stop the others
                self._errors.error(
                    f"notify-submit:{name}",
                    "could not hand notifications to a receiver",
                    receiver=name,
                    error=type(error).__name__,
                )

    @staticmethod
    def _deliver_directly(
        name: str, sender: Sender, stats: ReceiverStats, batch: list[Notification]
    ) -> None:
        stats.add("submitted", len(batch))
        stats.add("attempts", len(batch))
        started = time.perf_counter()
        sender.send(batch)
        stats.add("sent", len(batch))
        for _ in batch:
            stats.observe_latency(time.perf_counter() - started)

    def live(self, fingerprints: set[str]) -> None:
        """After each evaluation (and after its submit()): the alerts the evaluator tracks now,
        pending or firing. Receivers that re-send active alerts resolve the ones no longer
        tracked that no resolve is on its way for (see DeliveryWorker.reconcile); groups whose
        wait or interval ran out are notified (DeliveryWorker.tick)."""
        with self._lock:
            workers = list(self._workers.values())
        now = time.time()
        for worker in workers:
            try:
                worker.reconcile(fingerprints, now)
                worker.tick(now)
            except Exception as error:  # one receiver's failure must not stop the others
                self._errors.error(
                    f"notify-live:{worker.name}",
                    "could not reconcile re-sent alerts",
                    receiver=worker.name,
                    error=type(error).__name__,
                )

    # --- plugin-style lifecycle ----------------------------------------------------------------
    def metrics(self) -> list[MetricFamily]:
        with self._lock:
            stats, workers = dict(self._stats), dict(self._workers)

        def depth(name: str) -> int:
            worker = workers.get(name)
            return worker.queue.depth() if worker is not None else 0

        names = sorted(workers)
        return [
            *families(stats, depth),
            gauge(
                "aiops_agent_notification_groups",
                "Notification groups the receiver keeps: waiting, or notified with firing alerts.",
                [Sample((("receiver", n),), float(len(workers[n].grouper))) for n in names],
            ),
            counter(
                "aiops_agent_notification_groups_overflowed_total",
                "Alerts put in a route's overflow group as grouping.max_groups groups existed.",
                [Sample((("receiver", n),), float(workers[n].grouper.overflowed)) for n in names],
            ),
        ]

    def reconfigure(self, config: Config) -> None:
        """Apply a reloaded config: new receivers start, removed ones stop (their outbox file
        stays, and is delivered if the receiver comes back), changed ones swap their sender."""
        hostname = host_name(config.agent.hostname)
        context = Context("", hostname, self._public_url(), __version__)
        wanted = {DEFAULT_RECEIVER: Receiver(log=LogReceiver()), **config.receivers}
        with self._lock:
            for name in [n for n in self._receivers if n not in wanted]:
                self._remove(name)
            for name, receiver in wanted.items():
                self._apply(name, receiver, context, config)
            self._router = Router(config.routes, config.grouping, config.alerting.repeat_interval)
            for worker in self._workers.values():
                worker.grouper.max_groups = config.grouping.max_groups

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers.values())
            direct = list(self._direct.values())
            self._workers, self._direct = {}, {}
        for worker in workers:
            worker.stop(deadline - time.monotonic())
        for sender in direct:
            sender.close()

    def dead_letters(self, name: str) -> list[tuple[str, str, str]]:
        """(idempotency key, event JSON, reason) of what `name` rejected, for inspection."""
        worker = self._workers.get(name)
        return worker.queue.dead_letters() if worker is not None else []

    # --- receivers -----------------------------------------------------------------------------
    def _apply(self, name: str, receiver: Receiver, context: Context, config: Config) -> None:
        context = context._replace(receiver=name)
        worker = self._workers.get(name)
        unchanged = self._receivers.get(name) == (receiver, context)
        if unchanged and (worker is None or worker.queue.settings == config.outbox):
            return
        sender = build_sender(receiver, context)
        self._receivers[name] = (receiver, context)
        self._stats.setdefault(name, ReceiverStats())
        if worker is not None:
            # Also when it became a log receiver: the worker then drains its outbox to the log.
            worker.update(sender, config.outbox)
        elif receiver.type == "log":
            old = self._direct.get(name)
            self._direct[name] = sender
            if old is not None:
                old.close()
        else:
            self._direct.pop(name, None)
            self._workers[name] = self._start_worker(name, sender, config)

    def _start_worker(self, name: str, sender: Sender, config: Config) -> DeliveryWorker:
        from aiops_agent.notify.queue import DurableQueue  # noqa: PLC0415 - loads sqlite3
        from aiops_agent.notify.worker import DeliveryWorker  # noqa: PLC0415

        path = os.path.join(self._outbox_dir, f"{name}.sqlite") if self._outbox_dir else None
        stats = self._stats[name]
        queue = DurableQueue(name, path, config.outbox, stats, self._errors)
        worker = DeliveryWorker(
            name,
            sender,
            queue=queue,
            settings=config.outbox,
            stats=stats,
            errors=self._errors,
            max_groups=config.grouping.max_groups,
        )
        worker.start()
        return worker

    def _remove(self, name: str) -> None:
        self._receivers.pop(name, None)
        self._stats.pop(name, None)
        sender = self._direct.pop(name, None)
        if sender is not None:
            sender.close()
        worker = self._workers.pop(name, None)
        if worker is not None:
            pending = worker.queue.depth()
            worker.stop(REMOVED_RECEIVER_TIMEOUT)
            if pending:
                log.warning(
                    "receiver removed with notifications pending; they stay in its outbox",
                    extra={"receiver": name, "pending": pending},
                )
