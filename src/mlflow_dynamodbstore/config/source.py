"""The settings every connection serves: the table's item, reconciled with this process's
environment once at start-up, then re-read at most every REFRESH seconds.

``current()`` is what features call on every request, so it costs nothing between checks:
it compares a clock with the next check time and returns the settings held. The first call
after the interval re-reads the item (one consistent GetItem) and swaps in the new settings
when the version moved; no background thread, so a process that serves any request never
returns settings read more than REFRESH seconds before the call. A failed read keeps the
last settings: config never fails a request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.reconcile import EnvOverlay, env_overlay
from mlflow_dynamodbstore.config.settings import StoreSettings, unbuilt_trigram_fields

_log = logging.getLogger(__name__)

REFRESH_SECONDS_ENV = "MLFLOW_DYNAMODB_CONFIG_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 30.0
# The promise to operators: a change reaches every server within a minute.
MAX_REFRESH_SECONDS = 60.0


def refresh_seconds_from_env(environ: Mapping[str, str]) -> float:
    raw = (environ.get(REFRESH_SECONDS_ENV) or "").strip()
    if not raw:
        return DEFAULT_REFRESH_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_REFRESH_SECONDS:
        raise MlflowException(
            f"{REFRESH_SECONDS_ENV} must be a number of seconds above 0 and at most "
            f"{MAX_REFRESH_SECONDS:g}, got {raw!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return seconds


class TableSettingsSource:
    """A ``SettingsSource`` backed by the table's settings item (``config/items.py``).

    ``environ`` is read once, here (a bad value raises now, as the server starts);
    ``clock`` is monotonic seconds, injectable for tests."""

    def __init__(
        self,
        items: ConfigItems,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        env = os.environ if environ is None else environ
        self._items = items
        self._overlay: EnvOverlay = env_overlay(env)
        self.refresh_seconds = refresh_seconds_from_env(env)
        self._clock = clock
        self._lock = threading.Lock()
        # The environment alone until the table has been read.
        self._settings = self._overlay.apply(StoreSettings())
        self._reconciled = False
        self._next_check = float("-inf")
        self._failing = False
        self._started = False

    def start(self) -> StoreSettings:
        """Reconcile the environment with the table now (once; later calls are free)."""
        with self._lock:
            if not self._reconciled:
                self._check()
        return self._settings

    def current(self) -> StoreSettings:
        if self._clock() < self._next_check:
            return self._settings
        if self._started:
            # Someone else is re-reading: serve the settings held rather than wait on it.
            if not self._lock.acquire(blocking=False):
                return self._settings
        else:
            self._lock.acquire()  # the very first read: nobody serves before it
        try:
            if self._clock() >= self._next_check:
                self._check()
        finally:
            self._lock.release()
        return self._settings

    def _check(self) -> None:
        """One reconciliation (until one succeeded) or one re-read; the lock is held."""
        try:
            if self._reconciled:
                self._refresh()
            else:
                self._reconcile()
        except Exception as exc:  # config must never fail a request: keep what we have
            if not self._failing:
                _log.warning(
                    "Could not read the store settings from the table (%s: %s); keeping "
                    "the last known settings (version %d) and retrying every %g s",
                    type(exc).__name__,
                    exc,
                    self._settings.version,
                    self.refresh_seconds,
                )
            self._failing = True
        else:
            if self._failing:
                _log.info("Store settings read from the table again")
            self._failing = False
        self._next_check = self._clock() + self.refresh_seconds
        self._started = True

    def _reconcile(self) -> None:
        # One GetItem when the environment adds nothing; plus one conditional PutItem
        # when it does (re-read and retried if another server wrote in between).
        self._settings = self._items.update(
            self._overlay.apply, initial=StoreSettings(), only_if_changed=True
        )
        self._reconciled = True
        if unbuilt := unbuilt_trigram_fields(self._settings.fts_trigram_fields):
            _log.warning(
                "Trigram fields %s are in the store settings but not built by this version: "
                "nothing indexes them and no search uses them (docs/full-text-search.md)",
                ", ".join(unbuilt),
            )

    def _refresh(self) -> None:
        stored = self._items.load()
        # No item: nothing was ever stored (or it was removed); keep what we serve.
        if stored is not None and stored.version != self._settings.version:
            self._settings = stored
