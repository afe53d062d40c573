"""The one HTTP transport policy every venue adapter uses (Bybit over pybit, Kiwoom over requests).

- ``Throttle``: a minimum interval per endpoint class (``"query"``, ``"order"``, or a venue's own
  API id) and a "not before" time from the venue's rate-limit answers or headers.
- ``call_with_retries``: tenacity, with one rule for every venue: a rate-limited request was not
  processed, so it is retried, reads or writes; a transient failure (5xx, timeout, a bad body) is
  retried for reads only, since a write may have acted (the caller turns it into an unknown
  outcome and looks the order up).  Rejections and auth errors are never retried.
- ``paginate``: a cursor loop with a page cap.
- ``OrderLog``: every write with its request and response, as one JSON line on
  ``qtx.<venue>.orders``; keys, secrets and tokens are never part of what is logged.
- ``JsonPost``: a POST of a JSON body over ``requests`` with network failures mapped onto our
  error kinds (what a venue without an SDK needs).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt

from brokers.base import BrokerError, RateLimited, Transient, UnknownOutcome

T = TypeVar("T")
log = logging.getLogger("qtx.http")

# Names whose values never reach a log line.
SECRET_NAMES = {"appkey", "secretkey", "token", "authorization", "api_key", "api_secret", "secret",
                "password", "sign", "x-bapi-sign", "x-bapi-api-key"}


class Throttle:
    """Paces requests per endpoint class; thread-safe; the clock and sleep are injectable."""

    def __init__(self, intervals: Mapping[str, float] | None = None, default: float = 0.0, *,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 max_wait: float = 60.0):
        self.intervals = dict(intervals or {})
        self.default = default
        self.max_wait = max_wait
        self._sleep = sleep
        self._mono = monotonic
        self._last: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds slept (reported by the adapters)

    def wait(self, klass: str = "default") -> None:
        with self._lock:
            now = self._mono()
            gap = self.intervals.get(klass, self.default)
            due = self._last.get(klass, -1e18) + gap
            due = max(due, self._not_before.pop(klass, 0.0), self._not_before.pop("*", 0.0))
            pause = min(self.max_wait, due - now)
            if pause > 0:
                self._sleep(pause)
                self.waited += pause
            self._last[klass] = self._mono()

    def hold(self, seconds: float, klass: str = "*") -> None:
        """Send nothing of ``klass`` (``*``: anything) for ``seconds`` (a venue said slow down)."""
        with self._lock:
            until = self._mono() + max(0.0, min(self.max_wait, seconds))
            self._not_before[klass] = max(self._not_before.get(klass, 0.0), until)


def is_safe_to_retry(exc: BaseException, write: bool) -> bool:
    """The retry rule: rate limits always (not processed); transient failures on reads only,
    and on writes only when the venue said it did not act (``Transient.not_processed``)."""
    if isinstance(exc, RateLimited):
        return True
    if isinstance(exc, Transient):
        return (not write) or bool(getattr(exc, "not_processed", False))
    return False


def call_with_retries(fn: Callable[[], T], *, write: bool, attempts: int = 4, max_wait: float = 30.0,
                      sleep: Callable[[float], None] = time.sleep, what: str = "request",
                      on_retry: Callable[[BaseException, int], None] | None = None) -> T:
    """Run ``fn`` under the retry rule; the last error is raised as is."""

    def wait(rs) -> float:
        after = getattr(rs.outcome.exception(), "retry_after", None)
        if after is not None:
            return min(max_wait, after)
        return min(max_wait, 0.2 * (2 ** (rs.attempt_number - 1)))

    def before_sleep(rs) -> None:
        exc = rs.outcome.exception()
        log.warning("%s: %s; retrying (attempt %d of %d)", what, exc, rs.attempt_number, attempts)
        if on_retry is not None:
            on_retry(exc, rs.attempt_number)

    retrying = Retrying(stop=stop_after_attempt(max(1, attempts)), wait=wait,
                        retry=retry_if_exception(lambda e: is_safe_to_retry(e, write)),
                        sleep=sleep, reraise=True, before_sleep=before_sleep)
    return retrying(fn)


def paginate(fetch: Callable[[Any], tuple[list[T], Any]], *, max_pages: int = 100,
             pause: Callable[[], None] | None = None) -> list[T]:
    """Rows of every page: ``fetch(cursor)`` returns ``(rows, next_cursor)``; a falsy cursor ends."""
    rows: list[T] = []
    cursor = None
    for n in range(max_pages):
        if n and pause is not None:
            pause()
        page, cursor = fetch(cursor)
        rows.extend(page)
        if not cursor:
            break
    return rows


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with the values of secret-looking keys replaced."""
    if isinstance(obj, Mapping):
        return {k: ("***" if str(k).lower() in SECRET_NAMES else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    return obj


class OrderLog:
    """Every order write, request and response, as one JSON line (secrets redacted)."""

    def __init__(self, venue: str, sink: Callable[[dict], None] | None = None):
        self.logger = logging.getLogger(f"qtx.{venue}.orders")
        self.sink = sink

    def write(self, entry: dict, ok: bool = True) -> None:
        entry = redact(entry)
        self.logger.log(logging.INFO if ok else logging.WARNING, json.dumps(entry, default=str, sort_keys=True))
        if self.sink is not None:
            try:
                self.sink(entry)
            except Exception:  # a logging sink must never break order handling
                log.exception("order log sink failed")


class JsonPost:
    """POST a JSON body and read a JSON answer, network failures mapped onto our error kinds:
    on a write they are an ``UnknownOutcome`` (it may have arrived), on a read ``Transient``."""

    def __init__(self, base_url: str, timeout: float = 10.0, venue: str = "venue"):
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.venue = venue
        self.session = requests.Session()

    def post(self, path: str, body: dict, headers: Mapping[str, str], *, write: bool,
             what: str) -> tuple[int, Mapping[str, str], dict]:
        import requests

        try:
            r = self.session.post(self.base_url + path, data=json.dumps(body), headers=dict(headers),
                                  timeout=self.timeout)
        except requests.exceptions.Timeout as e:
            raise self._network(write, f"{self.venue} {what} timed out ({type(e).__name__})") from None
        except requests.exceptions.RequestException as e:
            raise self._network(write, f"{self.venue} {what} lost its connection ({type(e).__name__})") from None
        try:
            data = r.json() if r.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if r.status_code >= 500 or r.status_code == 200:
                raise self._network(write, f"{self.venue} {what}: HTTP {r.status_code} with a body that is not JSON")
            data = {}
        return r.status_code, r.headers, data

    @staticmethod
    def _network(write: bool, message: str) -> BrokerError:
        return UnknownOutcome(message, code="network") if write else Transient(message, code="network")

    def close(self) -> None:
        self.session.close()

