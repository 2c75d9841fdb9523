"""Which receivers an alert goes to: the routes in order, first match wins unless the route says
continue (as in Alertmanager); an alert no route matches goes to the log receiver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiops_agent.base.matchers import labels_match
from aiops_agent.config.notify_schema import DEFAULT_RECEIVER, Route


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = [
            (r.receiver, frozenset(r.severity), tuple(r.matchers), r.continue_) for r in routes
        ]

    def route(self, labels: Mapping[str, str]) -> list[str]:
        chosen: list[str] = []
        for receiver, severities, matchers, keep_going in self._routes:
            if severities and labels.get("severity", "") not in severities:
                continue
            if not labels_match(matchers, labels):
                continue
            if receiver not in chosen:
                chosen.append(receiver)
            if not keep_going:
                break
        return chosen or [DEFAULT_RECEIVER]
