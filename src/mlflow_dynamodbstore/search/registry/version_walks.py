"""The keyset walks of search_model_versions (see versions.py for the plan).

Every walk returns up to ``want`` rows (ModelVersion entities) that match, in the search
order, after the cursor ``after`` (the sort key of the last row of the previous page):

- by last update or creation time first: the workspace's time-ordered version listing
  (GSI3 / GSI4) from the cursor's time on; entries of equal time are sorted in memory by
  the rest of the order. The models of each index page come from one BatchGetItem (once
  per model per search).
- by name first: the workspace's models by name (GSI1) from the cursor's name on, and each
  model's versions from its partition: in version order (from the cursor's version, lazily)
  when the version number breaks ties, else the model's versions read and sorted.

Prompt exclusion reads META's ``prompt_versions`` (the versions whose prompt tag is
"true"): a model with any is left out unless the filter asks for prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mlflow.entities.model_registry import ModelVersion

from mlflow_dynamodbstore.repositories.registry.entities import to_model_version
from mlflow_dynamodbstore.repositories.registry.model_versions import (
    PROMPT_VERSIONS,
    ModelVersionRepository,
    is_live,
)
from mlflow_dynamodbstore.repositories.registry.order_state import time_of_entry
from mlflow_dynamodbstore.repositories.registry.registered_models import RegisteredModelRepository
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.search.registry import keyset

Item = dict[str, Any]
Key = Callable[[ModelVersion], tuple]
Wanted = Callable[[ModelVersion], bool]


def is_prompt_model(meta: Item) -> bool:
    return bool(meta.get(PROMPT_VERSIONS))


def walk_by_time(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    workspace: str,
    *,
    by_update: bool,
    ascending: bool,
    after: list | None,
    cursor: tuple | None,
    key: Key,
    wanted: Wanted,
    querying_prompts: bool,
    want: int,
) -> list[ModelVersion]:
    listing = (
        indexes.MODEL_VERSIONS_BY_LAST_UPDATE if by_update else indexes.MODEL_VERSIONS_BY_CREATION
    )
    metas: dict[str, Item | None] = {}
    start = None if after is None else int(after[0])

    def pages() -> Iterator[list[Item]]:
        for page in versions.walk_by_time(
            workspace,
            by_update=by_update,
            descending=not ascending,
            start=start,
            first_page=want + 2,  # the cursor, the page, one more, one to close a group
        ):
            unseen = sorted({i["model_id"] for i in page} - metas.keys())
            found = {m["model_id"]: m for m in models.get_many(unseen)} if unseen else {}
            metas.update({m: found.get(m) for m in unseen})
            yield page

    def rows_of(group: list[Item]) -> list[ModelVersion]:
        rows = []
        for item in group:
            meta = metas.get(item["model_id"])
            if meta is None or not is_live(item):  # model deleted, or the index lags
                continue
            if not querying_prompts and is_prompt_model(meta):
                continue
            mv = to_model_version(item, meta)
            if by_update:  # its place in the listing (a rename restamps it just after)
                mv.last_updated_timestamp = time_of_entry(listing, item)
            if wanted(mv):
                rows.append(mv)
        return rows

    return keyset.grouped_walk(
        pages(), lambda i: time_of_entry(listing, i), rows_of, key, cursor, want
    )


def walk_by_name(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    workspace: str,
    *,
    ascending: bool,
    version_ascending: bool | None,
    after: list | None,
    cursor: tuple | None,
    key: Key,
    wanted: Wanted,
    model_wanted: Callable[[Item], bool],
    querying_prompts: bool,
    want: int,
) -> list[ModelVersion]:
    """``version_ascending``: the direction of the version number when it is the second
    order field (the model's partition is then read in that order, from the cursor), or
    None (another field breaks ties: the model's versions are read and sorted)."""
    start_name = None if after is None else after[0]
    rows: list[ModelVersion] = []
    for meta in models.walk_by_name(
        workspace, descending=not ascending, start=start_name, first_page=min(want + 1, 100)
    ):
        if not querying_prompts and is_prompt_model(meta):
            continue
        if not model_wanted(meta):
            continue
        at_cursor = after is not None and meta["name"] == start_name
        if version_ascending is None:
            _, items = versions.read_model(meta["model_id"], consistent=False)
            candidates = [to_model_version(i, meta) for i in items if is_live(i)]
            rows.extend(keyset.after_cursor([mv for mv in candidates if wanted(mv)], key, cursor))
        else:
            start_version = int(after[1]) if at_cursor else None
            for item in versions.walk_versions(
                meta["model_id"],
                descending=not version_ascending,
                start=start_version,
                # what the page still needs, and the cursor's own version
                first_page=want - len(rows) + (1 if at_cursor else 0),
            ):
                if not is_live(item):
                    continue
                mv = to_model_version(item, meta)
                if cursor is not None and not key(mv) > cursor:
                    continue
                if wanted(mv):
                    rows.append(mv)
                    if len(rows) >= want:
                        return rows
        if len(rows) >= want:
            return rows[:want]
    return rows
