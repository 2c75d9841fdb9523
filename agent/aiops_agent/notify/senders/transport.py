"""The sender of every HTTP receiver (webhook, Slack, PagerDuty, Alertmanager): one JSON document
POSTed per batch, the formats differing only in the document and the headers, which each
format's module gives. POSTs go through requests, imported on first use: only agents with an
HTTP receiver pay its memory. Failures are reduced to a class and a status code; the exception's
text is never kept, since requests puts the URL (and any token in it) into its messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from aiops_agent import __version__
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.outcome import Outcome, dead, from_status, retry
from aiops_agent.notify.senders import Sender

USER_AGENT = f"aiops-agent/{__version__}"
MAX_BODY = 64 << 10  # bytes of an answer read; receivers answer with a few bytes of status

Notifications = Sequence[Notification]


class JsonPostSender(Sender):
    """POST document(notifications), serialised, to `url` with headers(notifications, body)."""

    def __init__(
        self,
        url: str,
        timeout: float,
        document: Callable[[Notifications], Any],
        headers: Callable[[Notifications, bytes], dict[str, str]],
        max_batch: int = 1,
    ) -> None:
        self._url = url
        self._document = document
        self._headers = headers
        self._http = HttpPoster(timeout)
        self.max_batch = max_batch

    def send(self, notifications: Notifications) -> Outcome:
        body = dumps(self._document(notifications))
        return self._http.post(self._url, body, self._headers(notifications, body))

    def close(self) -> None:
        self._http.close()


def idempotency_key(notifications: Notifications, body: bytes) -> dict[str, str]:
    """The headers of a format that sends one notification per request and no others."""
    (notification,) = notifications
    return {"Idempotency-Key": notification.idempotency_key()}


class HttpPoster:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._session: Optional[Any] = None

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        import requests  # noqa: PLC0415 - lazily, see the module docstring

        if self._session is None:
            # urllib3 logs request lines (URL paths, which may hold tokens) at debug level.
            logging.getLogger("urllib3").setLevel(logging.WARNING)
            self._session = requests.Session()
        all_headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers}
        try:
            # stream=True: the body is read only up to MAX_BODY, so a receiver that answers with
            # an endless body cannot hold the delivery thread or fill memory.
            response = self._session.post(
                url,
                data=body,
                headers=all_headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            return retry("timeout")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as error:
            return dead(f"invalid URL ({type(error).__name__})")
        except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader) as error:
            return dead(f"invalid request ({type(error).__name__})")
        except requests.ConnectionError:
            return retry("connection failed")
        except requests.RequestException as error:
            return retry(type(error).__name__)
        try:
            outcome = from_status(response.status_code, response.headers.get("Retry-After"))
            _drain(response)
            return outcome
        except requests.RequestException:
            return outcome  # the answer counts; only its body could not be read
        finally:
            response.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _drain(response: Any) -> None:
    """Read a short body to its end, so the connection can be reused; give up on a long one (the
    connection is then closed instead)."""
    received = 0
    for chunk in response.iter_content(8192):
        received += len(chunk)
        if received > MAX_BODY:
            break


def dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
