"""Notification grouping, as Alertmanager's routes do it: the alerts a route sends to a receiver
are grouped by the values of the route's group_by labels, and each group is notified as one
message listing its alerts. A new group waits group_wait for more alerts before its first
notification; a notified group waits group_interval before telling about alerts added to it or
resolved in it; an unchanged group with firing alerts is re-notified every repeat_interval.

The grouper is pure bookkeeping on a clock it is given (the evaluation's), so tests drive it with
a fake one. Its owner (worker.py) feeds it the events of each evaluation, asks for the
notifications due at each evaluation, and has the groups that changed (changes()) saved in the
receiver's outbox (queue.py), in the same transaction as the notifications they produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Optional

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.fingerprint import fnv1a64
from aiops_agent.config.notify_schema import GROUP_BY_ALL

FIRING, RESOLVED = "firing", "resolved"
DEFAULT_ROUTE = -1  # the route of alerts no configured route matched (they go to log)


@dataclass(frozen=True)
class Grouping:
    """One route's grouping settings, defaults applied."""

    route: int  # index of the route in the config; DEFAULT_ROUTE for the fallback
    group_by: tuple[str, ...]
    wait: float
    interval: float
    repeat: float


@dataclass(frozen=True)
class Notification:
    """What a receiver is sent in one message: a group's alerts, or one alert on its own (a
    receiver that does not group, such as Alertmanager, which groups by itself)."""

    alerts: tuple[AlertEvent, ...]
    group: str = ""  # the group's id, unique over the agent's life; "" for an ungrouped alert
    labels: dict[str, str] = field(default_factory=dict)  # the group's: values of group_by
    sequence: int = 0  # increases with each notification of the group

    @property
    def status(self) -> str:
        """firing while any alert of the group fires; resolved when its last one ended."""
        return FIRING if any(a.status == FIRING for a in self.alerts) else RESOLVED

    def idempotency_key(self) -> str:
        """The same for every delivery attempt of this notification, different for the next one
        of its group (or alert)."""
        if not self.group:
            return self.alerts[0].idempotency_key()
        return f"{self.group}-{self.sequence}"


def single(event: AlertEvent) -> Notification:
    return Notification((event,))


class Group:
    __slots__ = (
        "created",
        "id",
        "interval",
        "labels",
        "last_sent",
        "members",
        "notified",
        "repeat",
        "route",
        "sequence",
        "wait",
    )

    def __init__(self, group_id: str, route: int, labels: dict[str, str], created: float) -> None:
        self.id = group_id
        self.route = route
        self.labels = labels
        self.created = created
        self.wait = self.interval = self.repeat = 0.0
        self.members: dict[str, AlertEvent] = {}  # fingerprint -> the alert's latest event
        self.notified: dict[str, str] = {}  # fingerprint -> its status in the last notification
        self.last_sent: Optional[float] = None
        self.sequence = 0

    def changed(self) -> bool:
        """Some alert is new to the receiver or changed status since the last notification."""
        return any(self.notified.get(fp) != event.status for fp, event in self.members.items())

    def due(self) -> Optional[float]:
        """When the next notification goes out; None when there is nothing to tell."""
        if self.changed():
            if self.last_sent is None:
                return self.created + self.wait
            return self.last_sent + self.interval
        if self.last_sent is not None and FIRING in self.notified.values():
            return self.last_sent + self.repeat
        return None


class Grouper:
    def __init__(self, max_groups: int) -> None:
        self.max_groups = max_groups
        self.overflowed = 0  # alerts put in an overflow group because max_groups was reached
        self._groups: dict[str, Group] = {}  # by key: route and group labels
        self._changed: set[str] = set()  # keys to save

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, event: AlertEvent, grouping: Grouping, now: float) -> None:
        labels = group_labels(event.labels, grouping.group_by)
        key = group_key(grouping.route, labels)
        group = self._groups.get(key)
        if group is None and len(self._groups) >= self.max_groups:
            self.overflowed += 1
            labels = {}
            key = group_key(grouping.route, labels, overflow=True)
            group = self._groups.get(key)
        fingerprint = event.fingerprint
        if (
            event.status == RESOLVED
            and group is not None
            and fingerprint in group.members
            and fingerprint not in group.notified
        ):
            # Fired and ended before its group told anyone: nothing to tell. (A resolve of an
            # alert the groups do not know is kept: the lifecycle only resolves notified alerts,
            # so it was notified before the groups existed, by an older agent or a lost outbox.)
            del group.members[fingerprint]
            self._changed.add(key)
            if not group.members and group.last_sent is None:
                del self._groups[key]
            return
        if group is None:
            group = Group(f"{key}-{round(now * 1000)}", grouping.route, labels, now)
            self._groups[key] = group
        group.wait, group.interval, group.repeat = grouping.wait, grouping.interval, grouping.repeat
        group.members[fingerprint] = event
        self._changed.add(key)

    def flush(self, now: float) -> list[Notification]:
        """The notifications due at `now`, oldest group first; each group's state moves on."""
        due = []
        for key, group in self._groups.items():
            when = group.due()
            if when is not None and when <= now:
                due.append((when, group.created, key))
        notifications = []
        for _, _, key in sorted(due):
            group = self._groups[key]
            alerts = sorted(
                group.members.values(),
                key=lambda e: (e.status != FIRING, e.starts_at, e.fingerprint),
            )
            group.sequence += 1
            group.last_sent = now
            group.members = {e.fingerprint: e for e in alerts if e.status == FIRING}
            group.notified = {fp: FIRING for fp in group.members}
            notifications.append(
                Notification(tuple(alerts), group.id, dict(group.labels), group.sequence)
            )
            self._changed.add(key)
            if not group.members:  # all resolved: the group ends; a new one starts afresh
                del self._groups[key]
        return notifications

    def next_due(self) -> Optional[float]:
        times = [t for t in (g.due() for g in self._groups.values()) if t is not None]
        return min(times) if times else None

    def groups(self) -> list[Group]:
        return list(self._groups.values())

    # --- persistence: the owner saves what changed ------------------------------------------
    def changes(self) -> dict[str, Optional[Group]]:
        """The groups changed since the last call, by key; None: deleted."""
        changed, self._changed = self._changed, set()
        return {key: self._groups.get(key) for key in changed}

    def restore(self, groups: Iterable[tuple[str, Group]]) -> None:
        """Take back saved groups (before the first add)."""
        self._groups.update(groups)


def group_labels(labels: Mapping[str, str], group_by: tuple[str, ...]) -> dict[str, str]:
    if group_by == (GROUP_BY_ALL,):
        return dict(labels)
    return {name: labels[name] for name in group_by if labels.get(name)}


def group_key(route: int, labels: Mapping[str, str], overflow: bool = False) -> str:
    pairs = [part for name in sorted(labels) for part in (name, labels[name])]
    return fnv1a64([str(route), "overflow" if overflow else "", *pairs])
