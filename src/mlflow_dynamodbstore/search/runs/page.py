"""Cutting one page out of ordered candidate runs, whatever index produced them.

Every read strategy hands over *groups*: runs in final order between groups, but possibly
unordered inside one (an index orders by its first sort column only; runs tying on it are
sorted here by the whole SQL sort key). The page is the first ``limit`` runs after the
cursor that pass the filter; one more match is looked for to know whether a next page
exists, and reading stops there.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.search.runs.order import RunOrder
from mlflow_dynamodbstore.search.runs.view import RunView

# (merge key, group key, view): streams are sorted by merge key; consecutive views with
# equal group keys form one group.
Candidate = tuple[Any, Any, RunView]


def merge_streams(streams: list[Iterator[Candidate]]) -> Iterator[Candidate]:
    """k-way merge of per-experiment streams, each already sorted by merge key."""
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda candidate: candidate[0])


def group_candidates(candidates: Iterable[Candidate], *, exact: bool) -> Iterator[list[RunView]]:
    """Groups of views. With ``exact`` the merge key is the full sort key, so each view is
    its own group and is released without waiting for the next one (no read-ahead)."""
    if exact:
        for _, _, view in candidates:
            yield [view]
        return
    group: list[RunView] = []
    current: Any = None
    for _, group_key, view in candidates:
        if group and group_key != current:
            yield group
            group = []
        current = group_key
        group.append(view)
    if group:
        yield group


def take_page(
    groups: Iterable[list[RunView]],
    order: RunOrder,
    matches: Callable[[RunView], bool],
    cursor: tuple | None,
    limit: int | None,
) -> tuple[list[RunView], bool]:
    """(page, more): the first ``limit`` matching runs strictly after ``cursor``."""
    page: list[RunView] = []
    seen: set[str] = set()
    for group in groups:
        keyed = sorted(((order.key(v), v) for v in group), key=lambda kv: kv[0])
        for key, view in keyed:
            if view.run_id in seen:
                continue  # an index may list a run twice while it is being updated
            seen.add(view.run_id)
            if cursor is not None and not _after(key, cursor):
                continue
            if not matches(view):
                continue
            if limit is not None and len(page) == limit:
                return page, True
            page.append(view)
    return page, False


def _after(key: tuple, cursor: tuple) -> bool:
    try:
        return key > cursor
    except TypeError:
        # Only a hand-made token can put a value of the wrong type in the cursor.
        raise MlflowException(
            "Invalid page token: it does not match this search", INVALID_PARAMETER_VALUE
        ) from None
