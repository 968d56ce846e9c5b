"""Keyset page tokens of the registry searches (search_model_versions in every indexed
order, search_registered_models by last update) and the walk that pages an ordered index
whose ties are broken in memory.

A token is base64 JSON ``{"search": ..., "order": [[field, ascending], ...], "filter": ...,
"after": [value per order field]}``: the sort values of the last row returned. The next
page starts at the first row after them in the search order, so a page costs the index
entries read to reach it, not an offset's worth of rows. A token only pages the search
that issued it: another search, order or filter, or a token that was altered, is refused
with INVALID_PARAMETER_VALUE. Within the same search a token is only a position, so one
issued in another workspace reads this workspace's rows after that position (never the
other's). MLflow's own offset tokens (``{"offset": n}``) are still accepted: they page the
way the SQL store does (every row read per page).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.search.registry.common import _Key

Row = Any
Order = list[tuple[str, bool]]


def _invalid(reason: str) -> MlflowException:
    return MlflowException(f"Invalid page token: {reason}", INVALID_PARAMETER_VALUE)


def encode(search: str, order: Order, filter_string: str | None, after: list) -> str:
    payload = {
        "search": search,
        "order": [list(o) for o in order],
        "filter": filter_string or "",
        "after": after,
    }
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")


def _payload(page_token: str | None) -> dict | None:
    if not page_token:
        return None
    try:
        data = json.loads(base64.b64decode(page_token, validate=True))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        return None
    return data if isinstance(data, dict) and "after" in data else None


def is_ours(page_token: str | None) -> bool:
    """Whether the token is a keyset token of this module (of any search)."""
    data = _payload(page_token)
    return data is not None and "search" in data


def decode(
    page_token: str | None,
    search: str,
    order: Order,
    filter_string: str | None,
    types: dict[str, type | tuple[type, ...]],
) -> list | None:
    """The sort values to resume after, or None (no token, or MLflow's offset token, which
    the caller parses). ``types``: the type of each order field's values (a tuple: any of
    them, ``type(None)`` for a field that may be NULL)."""
    data = _payload(page_token)
    if data is None:
        return None  # not ours: the offset parser reports it as the SQL store does
    if data.get("search") != search:
        raise _invalid("it was issued by another search")
    if data.get("order") != [list(o) for o in order]:
        raise _invalid("it was issued for a search with a different order_by")
    if data.get("filter") != (filter_string or ""):
        raise _invalid("it was issued for a search with a different filter")
    after = data["after"]
    if not isinstance(after, list) or len(after) != len(order):
        raise _invalid("malformed position")
    for (field, _), value in zip(order, after, strict=True):
        expected = types[field]
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if type(value) not in allowed:  # bool is not int
            raise _invalid("malformed position")
    return after


def sort_key(values: Iterable[Any], order: Order) -> tuple:
    return tuple(_Key(v, asc) for v, (_, asc) in zip(values, order, strict=True))


def after_cursor(rows: list[Row], key: Callable[[Row], tuple], after: tuple | None) -> list[Row]:
    """``rows`` sorted in the search order, those past the cursor."""
    ordered = sorted(rows, key=key)
    if after is None:
        return ordered
    return [r for r in ordered if key(r) > after]


def grouped_walk(
    pages: Iterator[list[dict]],
    primary: Callable[[dict], Any],
    rows_of: Callable[[list[dict]], list[Row]],
    key: Callable[[Row], tuple],
    after: tuple | None,
    want: int,
) -> list[Row]:
    """Rows from an index read in the order of its first sort field: entries with equal
    values of it (a group) are turned into rows (``rows_of``, which filters) and sorted by
    the whole order (the SQL store's tie-breaks) before any of them is returned. Stops
    reading after the group that completed ``want`` rows."""
    rows: list[Row] = []
    group: list[dict] = []
    current: Any = None

    def flush() -> None:
        rows.extend(after_cursor(rows_of(group), key, after))

    for page in pages:
        for item in page:
            value = primary(item)
            if group and value != current:
                flush()
                group = []
                if len(rows) >= want:
                    return rows[:want]
            current = value
            group.append(item)
    if group:
        flush()
    return rows[:want]
