"""Which receivers an alert goes to, grouped how: the routes in order, first match wins unless the
route says continue (as in Alertmanager); an alert no route matches goes to the log receiver.
Each route's grouping keys default to the grouping section's (repeat: alerting.repeat_interval)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

from aiops_agent.base.matchers import labels_match
from aiops_agent.config.notify_schema import DEFAULT_RECEIVER, GroupingSection, Route
from aiops_agent.notify.grouping import DEFAULT_ROUTE, Grouping


def pick(value: Optional[float], default: float) -> float:
    return default if value is None else float(value)


class Router:
    def __init__(
        self,
        routes: Sequence[Route],
        defaults: Optional[GroupingSection] = None,
        repeat_interval: float = 4 * 3600.0,
    ) -> None:
        defaults = defaults or GroupingSection()

        def grouping(index: int, route: Route) -> Grouping:
            return Grouping(
                index,
                tuple(defaults.group_by if route.group_by is None else route.group_by),
                pick(route.group_wait, defaults.group_wait),
                pick(route.group_interval, defaults.group_interval),
                pick(route.repeat_interval, repeat_interval),
            )

        self._routes = [
            (r.receiver, frozenset(r.severity), tuple(r.matchers), r.continue_, grouping(i, r))
            for i, r in enumerate(routes)
        ]
        self._fallback = grouping(DEFAULT_ROUTE, Route(receiver=DEFAULT_RECEIVER))

    def route(self, labels: Mapping[str, str]) -> list[tuple[str, Grouping]]:
        chosen: list[tuple[str, Grouping]] = []
        for receiver, severities, matchers, keep_going, grouping in self._routes:
            if severities and labels.get("severity", "") not in severities:
                continue
            if not labels_match(matchers, labels):
                continue
            if all(name != receiver for name, _ in chosen):
                chosen.append((receiver, grouping))
            if not keep_going:
                break
        return chosen or [(DEFAULT_RECEIVER, self._fallback)]
