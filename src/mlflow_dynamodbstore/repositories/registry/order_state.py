"""Whether every registry item carries its ordered-listing keys (schema/registry_order_keys.py).

A table created with this version does from its first write (the seed marks it); an older
table does once ``registry backfill-order`` finished. Until then the searches page the way
they did before (every model or version read per page, offset tokens), which is exact on
any table. Ready is cached for the process for good; not-ready is re-checked every
``RECHECK_SECONDS``, so searches pay no read for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.paging import growing_pages
from mlflow_dynamodbstore.schema import indexes, registry_order_keys, version_number_keys

Item = dict[str, Any]

RECHECK_SECONDS = 60.0


class OrderReadiness:
    """Whether one family of ordered-listing keys is complete on a table, read from a marker
    item (``ready_key``: the registry's by default; traces use their own)."""

    def __init__(self, ready_key: Callable[[], Item] = registry_order_keys.ready_key) -> None:
        self._ready_key = ready_key
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._checked: dict[str, float] = {}

    def is_ready(self, gateway: TableGateway) -> bool:
        table = _table_of(gateway)
        with self._lock:
            if table in self._ready:
                return True
            checked = self._checked.get(table)
            if checked is not None and time.monotonic() - checked < RECHECK_SECONDS:
                return False
        item = gateway.get_item(self._ready_key())
        ready = bool(item and item.get("complete"))
        self._remember(table, ready)
        return ready

    def mark(self, gateway: TableGateway, ready: bool) -> None:
        if ready:
            gateway.put_item({**self._ready_key(), "complete": True})
        else:
            gateway.delete_item(self._ready_key())
        self._remember(_table_of(gateway), ready)

    def forget(self) -> None:
        with self._lock:
            self._ready.clear()
            self._checked.clear()

    def _remember(self, table: str, ready: bool) -> None:
        with self._lock:
            if ready:
                self._ready.add(table)
            else:
                self._ready.discard(table)
            self._checked[table] = time.monotonic()


def _table_of(gateway: TableGateway) -> str:
    unscoped = getattr(gateway, "unscoped", gateway)
    endpoint = getattr(getattr(unscoped.client, "meta", None), "endpoint_url", "")
    return f"{endpoint}/{unscoped.table_name}"


READINESS = OrderReadiness()


def mark_new_table_ready(gateway: TableGateway) -> None:
    """A new table writes the listing keys with every model and version from the start
    (the time listings, and the version-number order of schema/version_number_keys.py)."""
    gateway.put_item({**registry_order_keys.ready_key(), "complete": True})
    gateway.put_item({**version_number_keys.ready_key(), "complete": True})


def walk_time_listing(
    gateway: TableGateway,
    listing: indexes.AccessPattern,
    pk: str,
    descending: bool,
    start: int | None,
    first_page: int,
) -> Iterator[list[Item]]:
    """Pages of a time-ordered registry listing (schema/registry_order_keys.py) from the
    entries at time ``start`` (inclusive) on, in the given direction."""
    if start is None:
        condition = listing.pk_eq(pk)
    elif descending:
        condition = listing.key_condition(pk, below=registry_order_keys.time_bound(start + 1))
    else:
        condition = listing.key_condition(pk, lower=registry_order_keys.time_bound(start))
    return growing_pages(
        gateway, condition, index=listing.index, forward=not descending, first_page=first_page
    )


def time_of_entry(listing: indexes.AccessPattern, item: Item) -> int:
    """The time an entry of a time-ordered registry listing is filed under."""
    return registry_order_keys.time_of_sort_key(listing.sort_key(item))
