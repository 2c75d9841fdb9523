"""What one delivery attempt came to, and how an HTTP answer maps to it. Reasons are short and
never quote a URL, a header or a response body: those may carry secrets."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import NamedTuple, Optional

OK, RETRY, DEAD = "ok", "retry", "dead"

# 408 (timeout) and 425 (too early) are worth retrying; other 4xx answers will not change.
_RETRYABLE_4XX = {408, 425, 429}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
# Libraries whose exception messages quote the request's URL (tokens included): never shown.
_URL_QUOTING = ("requests", "urllib3", "http", "urllib")
MAX_DETAIL = 200  # characters of an exception's message kept in a reason


class Outcome(NamedTuple):
    kind: str  # OK, RETRY (transient: try again later) or DEAD (never succeeds: dead-letter it)
    reason: str = ""  # e.g. "HTTP 503", "timeout"; safe to log
    retry_after: Optional[float] = None  # seconds the receiver asked us to wait


ACCEPTED = Outcome(OK)


def retry(reason: str, retry_after: Optional[float] = None) -> Outcome:
    return Outcome(RETRY, reason, retry_after)


def dead(reason: str) -> Outcome:
    return Outcome(DEAD, reason)


def from_status(status: int, retry_after: Optional[str] = None) -> Outcome:
    if 200 <= status < 300:
        return ACCEPTED
    reason = f"HTTP {status}"
    if status >= 500 or status in _RETRYABLE_4XX:
        return retry(reason, parse_retry_after(retry_after))
    if 300 <= status < 400:
        # Redirects are not followed: a signed request must not travel to another host.
        return dead(f"{reason} (redirects are not followed; fix the URL)")
    return dead(reason)


def parse_retry_after(text: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After is delta-seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not text:
        return None
    text = text.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rare path

    try:
        moment = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment - (time.time() if now is None else now))


def describe_error(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """An exception a sender raised, as a reason safe to log: the missing package for an import
    failure; else the class and, unless the class comes from an HTTP library (whose messages quote
    the URL), the first line of its message with URLs and the receiver's secrets blanked out."""
    kind = type(error).__name__
    if isinstance(error, ImportError):
        return f"missing Python package {error.name!r}" if error.name else f"{kind} on import"
    if type(error).__module__.partition(".")[0] in _URL_QUOTING:
        return kind
    lines = str(error).splitlines()
    text = lines[0] if lines else ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    text = _URL.sub("<url>", text)
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL] + "..."
    return f"{kind}: {text}" if text else kind
