"""The settings item in the table: what every server shares, versioned so a change is
noticed by comparing one number."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from mlflow_dynamodbstore.config.settings import (
    OPT_IN_TRIGRAM_FIELDS,
    RetentionPolicy,
    StoreSettings,
)
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.optimistic import Version, optimistic, version_of
from mlflow_dynamodbstore.schema.config_keys import settings_key
from mlflow_dynamodbstore.schema.fts_keys import ready_key


def settings_to_item(settings: StoreSettings) -> dict[str, Any]:
    return {
        **settings_key(),
        "denormalize_tags": list(settings.denormalize_tags),
        "fts_trigram_fields": list(settings.fts_trigram_fields),
        "retention": {k: int(v) for k, v in asdict(settings.retention).items()},
        "experiment_denormalize_tags": {
            exp: list(globs) for exp, globs in settings.experiment_denormalize_tags
        },
        "xray": settings.xray,
        "version": settings.version,
    }


def settings_from_item(item: dict[str, Any]) -> StoreSettings:
    retention = {k: int(v) for k, v in (item.get("retention") or {}).items()}
    return StoreSettings(
        denormalize_tags=tuple(item.get("denormalize_tags") or ()),
        fts_trigram_fields=tuple(item.get("fts_trigram_fields") or ()),
        retention=RetentionPolicy(**retention),
        experiment_denormalize_tags=tuple(
            (exp, tuple(globs))
            for exp, globs in sorted((item.get("experiment_denormalize_tags") or {}).items())
        ),
        xray=bool(item.get("xray", False)),
        version=int(item.get("version", 0)),
    )


class ConfigItems:
    """Reads and changes the settings item. ``gateway`` is the unscoped table gateway: the
    settings are the table's, not a workspace's."""

    def __init__(self, gateway: TableGateway):
        self._gateway = gateway

    def load(self) -> StoreSettings | None:
        item = self._gateway.get_item(settings_key())
        return None if item is None else settings_from_item(item)

    def version(self) -> int | None:
        """The stored version alone (the cheap periodic check)."""
        item = self._gateway.get_item(settings_key())
        return None if item is None else int(item.get("version", 0))

    def update(
        self,
        change: Callable[[StoreSettings], StoreSettings],
        *,
        initial: StoreSettings,
        only_if_changed: bool = False,
    ) -> StoreSettings:
        """Apply ``change`` to the stored settings (``initial`` when none are stored) and
        write it back only if nobody wrote in between; the version goes up by one.
        ``only_if_changed``: when ``change`` changes nothing, write nothing and return what
        was read (one GetItem; the start-up reconciliation of a server with nothing new)."""

        def read(_lost: object) -> tuple[StoreSettings, Version]:
            item = self._gateway.get_item(settings_key())
            if item is None:
                return initial, Version("version", None)
            return settings_from_item(item), version_of(item)

        def write(state: tuple[StoreSettings, Version]) -> StoreSettings:
            base, version = state
            proposed = change(base)
            if only_if_changed and replace(proposed, version=base.version) == base:
                return base
            changed = replace(proposed, version=version.next)
            # the marker first: a crash between the two writes leaves the index unready
            # (a backfill too many), never ready with postings missing
            self._unready_switched_fields(base, changed)
            self._gateway.put_item(settings_to_item(changed), condition=version.condition)
            return changed

        return optimistic(read, write, what="the table settings")

    def _unready_switched_fields(self, before: StoreSettings, after: StoreSettings) -> None:
        """An opt-in trigram field (trace names, tag and param values) switched on or off,
        however (``fts add`` / ``fts remove``, or a server starting with a different env),
        has incomplete postings from now on (entities written while it was off have none):
        its ready marker says not ready, with the time, until ``fts backfill`` (which first
        waits until every server has seen the change, ``backfills/fts.py``) rebuilds them
        and marks it ready. Searches take the exact path meanwhile. Off -> on -> off leaves
        it unready too. The one readiness mechanism of every opt-in field."""
        for field in OPT_IN_TRIGRAM_FIELDS:
            if before.indexes_trigrams(field) != after.indexes_trigrams(field):
                marker = {**ready_key(field), "complete": False, "changed_at": int(time.time())}
                self._gateway.put_item(marker)
