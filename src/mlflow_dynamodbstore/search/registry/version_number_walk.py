"""search_model_versions ordered by ``version_number`` first: a walk of the workspace's
live versions in version-number order (GSI1 ``WS#<ws>#MVS``, live keys ``N#<version>#<model
name>``: schema/version_number_keys.py) from the page token's cursor on, stopping after the
page plus one match, so page N costs what it returns plus the entries read to find it.

The SQL store breaks ties of the number by ``name`` (ascending unless the order says
otherwise), then by whatever follows. By the second order field:

- ``name`` in the direction the index is read (``version_number ASC, name ASC`` forwards,
  ``version_number DESC, name DESC`` backwards): one range read from the cursor;
- ``name`` against that direction (``version_number DESC``, whose names are ascending, and
  ``version_number ASC, name DESC``): the numbers are read backwards (forwards) in pages;
  every number whose entries a page holds whole is returned in reverse, and the last one, cut
  by the page's end, is read again from its start in the names' direction (as far as the
  page needs), then the numbers after it;
- a timestamp: each number's versions are read whole and sorted in memory (keyset's
  ``grouped_walk``), as the time walks sort timestamp ties.

Each index page's models come from one BatchGetItem (once per model per search); deleted
models, prompts (unless the filter asks for them, META's ``prompt_versions``) and rows the
filter refuses are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_dynamodbstore.gateway.paging import PAGE_CAP
from mlflow_dynamodbstore.repositories.registry import version_number_order
from mlflow_dynamodbstore.repositories.registry.entities import to_model_version
from mlflow_dynamodbstore.repositories.registry.model_versions import (
    ModelVersionRepository,
    is_live,
)
from mlflow_dynamodbstore.repositories.registry.registered_models import RegisteredModelRepository
from mlflow_dynamodbstore.schema import version_number_keys
from mlflow_dynamodbstore.search.registry import keyset
from mlflow_dynamodbstore.search.registry.version_walks import is_prompt_model

Item = dict[str, Any]
Key = Callable[[ModelVersion], tuple]
Wanted = Callable[[ModelVersion], bool]
_LISTING = version_number_order.LISTING
# what a sort key can hold (schema/encoding.py: signed 64-bit)
_MIN_VERSION, _MAX_VERSION = -(1 << 63), (1 << 63) - 1


def walk_by_number(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    workspace: str,
    *,
    fields: list[tuple[str, bool]],
    after: list | None,
    cursor: tuple | None,
    key: Key,
    wanted: Wanted,
    querying_prompts: bool,
    want: int,
) -> list[ModelVersion]:
    if after is not None and not _MIN_VERSION <= after[0] <= _MAX_VERSION:
        raise MlflowException("Invalid page token: malformed position", INVALID_PARAMETER_VALUE)
    numbers_ascending = fields[0][1]
    second, names_ascending = fields[1]
    gateway = versions.gateway
    metas: dict[str, Item | None] = {}

    def load(page: list[Item]) -> None:
        unseen = sorted({i["model_id"] for i in page} - metas.keys())
        found = {m["model_id"]: m for m in models.get_many(unseen)} if unseen else {}
        metas.update({m: found.get(m) for m in unseen})

    def rows_of(page: list[Item]) -> list[ModelVersion]:
        rows = []
        for item in page:
            meta = metas.get(item["model_id"])
            if meta is None or not is_live(item):  # model deleted, or the index lags
                continue
            if not querying_prompts and is_prompt_model(meta):
                continue
            mv = to_model_version(item, meta)
            if wanted(mv):
                rows.append(mv)
        return rows

    if second != "name":
        start = None if after is None else int(after[0])

        def loaded_pages() -> Iterator[list[Item]]:
            for page in _from_number(gateway, workspace, numbers_ascending, start, want + 2):
                load(page)
                yield page

        return keyset.grouped_walk(
            loaded_pages(),
            _number_of,
            rows_of,
            key,
            cursor,
            want,  # the rest sorted in memory
        )

    position = None
    if after is not None:
        position = version_number_keys.live_sk(int(after[0]), after[1])
    if numbers_ascending == names_ascending:
        pages = _straight(gateway, workspace, numbers_ascending, position, want + 1)
    else:
        start = None if after is None else (int(after[0]), after[1])
        pages = _crossed(gateway, workspace, numbers_ascending, start, want + 1)
    rows: list[ModelVersion] = []
    for page in pages:
        load(page)
        rows.extend(rows_of(page))
        if len(rows) >= want:
            return rows[:want]
    return rows


def _number_of(item: Item) -> int:
    return version_number_keys.version_of_live_sk(_LISTING.sort_key(item))


def _from_number(
    gateway, workspace: str, ascending: bool, start: int | None, first_page: int
) -> Iterator[list[Item]]:
    """Pages of the live range in number order from the entries numbered ``start``
    (inclusive) on."""
    lower = upper = None
    if start is not None:
        low, high = version_number_keys.number_range(start)
        lower, upper = (low, None) if ascending else (None, high)
    return version_number_order.live_pages(
        gateway,
        workspace,
        descending=not ascending,
        lower=lower,
        upper=upper,
        first_page=first_page,
    )


def _straight(
    gateway, workspace: str, ascending: bool, position: str | None, first_page: int
) -> Iterator[list[Item]]:
    """The live range in index order (both ascending or both descending), after the key
    ``position`` (the last row of the previous page)."""
    lower = upper = None
    if position is not None:
        lower, upper = (position, None) if ascending else (None, position)
    for page in version_number_order.live_pages(
        gateway,
        workspace,
        descending=not ascending,
        lower=lower,
        upper=upper,
        first_page=first_page,
    ):
        yield [i for i in page if _LISTING.sort_key(i) != position]


def _crossed(
    gateway,
    workspace: str,
    numbers_ascending: bool,
    start: tuple[int, str] | None,
    first_page: int,
) -> Iterator[list[Item]]:
    """The live range with numbers in one direction and the names of each number in the
    other, after the row ``start`` (number, name): see the module docstring."""
    names_descending = numbers_ascending
    limit = first_page

    def number(version: int, after_name: str | None) -> Iterator[list[Item]]:
        """One number's entries in the names' direction, after ``after_name``."""
        lower, upper = version_number_keys.number_range(version)
        position = None
        if after_name is not None:
            position = version_number_keys.live_sk(version, after_name)
            lower, upper = (lower, position) if names_descending else (position, upper)
        for page in version_number_order.live_pages(
            gateway,
            workspace,
            descending=names_descending,
            lower=lower,
            upper=upper,
            first_page=limit,
        ):
            yield [i for i in page if _LISTING.sort_key(i) != position]

    done: int | None = None  # the last number returned whole: the walk goes on past it
    if start is not None:
        yield from number(*start)
        done = start[0]
    while True:
        lower = upper = None
        if done is not None:
            low, high = version_number_keys.number_range(done)
            # past that number: its bounds match no key, so inclusive bounds exclude it
            lower, upper = (high, None) if numbers_ascending else (None, low)
        items, more = version_number_order.live_page(
            gateway,
            workspace,
            descending=not numbers_ascending,
            lower=lower,
            upper=upper,
            limit=limit,
        )
        if not items:
            return
        groups: list[list[Item]] = []
        for item in items:
            if groups and _number_of(groups[-1][0]) == _number_of(item):
                groups[-1].append(item)
            else:
                groups.append([item])
        # the page's last number may go on past the page: read it apart, from its start
        cut = groups.pop() if more else None
        whole = [i for group in groups for i in reversed(group)]
        if whole:
            yield whole
        if cut is None:
            return
        done = _number_of(cut[0])
        yield from number(done, None)
        limit = min(limit * 2, PAGE_CAP)
