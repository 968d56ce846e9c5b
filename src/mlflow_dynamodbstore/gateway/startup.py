"""Start-up work that waits for DynamoDB instead of failing the server's start.

A connection's start-up (check or create the table, reconcile the settings, seed the
first items) needs DynamoDB. A server started while DynamoDB is down, or that loses it while
a store is being made, keeps its start-up here as pending *steps* and serves anyway: every
request first passes the gate, which runs the pending steps once DynamoDB answers and
answers ``Unavailable`` (503 for MLflow's client, which retries) until then. So a server
comes up before its database and works once the database does, without a restart.

While closed, the gate asks DynamoDB at most once per ``interval`` with a cheap probe that
botocore does not retry (a DescribeTable with one attempt and short timeouts), so a request
gets its 503 at once instead of waiting out botocore's backoff. Once every step has run the
gate is open for good: the cost on a request is one attribute read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from botocore.exceptions import ClientError, HTTPClientError, WaiterError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from mlflow_dynamodbstore.gateway.errors import TransactionCancelled, Unavailable

_log = logging.getLogger(__name__)

# Throttling and server-side errors that may clear (as the gateway's TRANSIENT_ERROR_CODES).
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def unavailability(exc: BaseException) -> str | None:
    """Why ``exc`` says DynamoDB cannot be reached or serve now (None when it says
    something else: a refused request, a missing table that may not be created...)."""
    if isinstance(exc, Unavailable):
        return str(exc)
    if isinstance(exc, TransactionCancelled) and exc.has_conflict:
        return str(exc)
    if isinstance(exc, BotocoreConnectionError | HTTPClientError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, WaiterError):
        last = getattr(exc, "last_response", None) or {}
        code = last.get("Error", {}).get("Code", "")
        return f"{code or 'waiter'}: {exc}" if code in _TRANSIENT_CODES or not last else None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if error.get("Code") in _TRANSIENT_CODES or status >= 500:
            return f"{error.get('Code') or status}: {error.get('Message', '')}"
    return None


class StartupGate:
    """Pending start-up steps, run in order, each once, before any request of the gateway
    that holds this gate. ``probe`` raises when DynamoDB is not reachable."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        where: str = "DynamoDB",
    ):
        self._probe = probe
        self._interval = interval
        self._clock = clock
        self._where = where
        self._steps: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._next_try = float("-inf")
        self._reason = ""
        self.is_open = False

    def add(self, name: str, step: Callable[[], None], *, defer: bool = True) -> None:
        """Run ``step`` now when the gate is open; else (or when it fails because DynamoDB is
        unavailable and ``defer``) keep it, under ``name`` (one step per name), for the
        first request that finds DynamoDB back. Other errors are raised."""
        with self._lock:
            if not self.is_open and not self._opening():
                self._steps.setdefault(name, step)
                return
        try:
            self._run_as_opener(step)
        except Exception as exc:
            reason = unavailability(exc)
            if reason is None or not defer:
                raise
            with self._lock:
                self._steps.setdefault(name, step)
                self._close(reason)

    def open_now(self) -> None:
        """Try the pending steps now (at connect): probe first, so a DynamoDB that is down
        costs one quick attempt. Unavailability leaves the gate closed (logged); other
        errors are raised."""
        with self._lock:
            try:
                self._open_locked(force=True)
            except Unavailable as exc:
                _log.warning("%s: serving anyway, requests answer 503 until it is", exc.reason)

    def check(self) -> None:
        """Before a request: return when open; else run the pending steps if DynamoDB is
        back, or raise ``Unavailable``."""
        if self.is_open or self._opening():
            return
        # Never wait for a request that is opening: it may itself wait on a lock this
        # thread holds (the settings source's, around its first read); MLflow's client
        # retries the 503.
        if not self._lock.acquire(blocking=False):
            raise Unavailable("start-up", f"{self._where}: start-up in progress")
        try:
            if not self.is_open:
                self._open_locked(force=False)
        finally:
            self._lock.release()

    # ---- internals (the lock is held) --------------------------------------------------
    def _opening(self) -> bool:
        return getattr(self._local, "opening", False)

    def _close(self, reason: str) -> None:
        if self.is_open or not self._reason:
            _log.warning("%s is not available (%s): requests answer 503", self._where, reason)
        self.is_open = False
        self._reason = reason
        self._next_try = self._clock() + self._interval

    def _open_locked(self, *, force: bool) -> None:
        if not force and self._clock() < self._next_try:
            raise Unavailable("start-up", f"{self._where} is not available ({self._reason})")
        try:
            self._probe()
            while self._steps:
                name, step = next(iter(self._steps.items()))
                self._run_as_opener(step)
                del self._steps[name]
        except Exception as exc:
            reason = unavailability(exc)
            self._next_try = self._clock() + self._interval
            if reason is None:
                raise
            self._reason = reason
            raise Unavailable("start-up", f"{self._where} is not available ({reason})") from None
        if self._reason:
            _log.warning("%s is available again: start-up completed", self._where)
        self._reason = ""
        self.is_open = True

    def _run_as_opener(self, step: Callable[[], None]) -> None:
        """Run a step; its own requests pass the gate (they are the start-up)."""
        nested = self._opening()
        self._local.opening = True
        try:
            step()
        finally:
            self._local.opening = nested
