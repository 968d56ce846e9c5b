"""Trigram postings of run tag and param values (``run_tag_value``, ``run_param_value``;
fts/field_postings.py), when those fields are configured.

Scope is the run's experiment and the tag/param key: ``tags.x LIKE '%abc%'`` in
search_runs reads only the postings of ``x`` in the searched experiments. The change's
postings ride in the run's own write (``RunWrite.names``: inside its transaction as far as
it fits); deletion paths remove every value's postings with the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.field_postings import RUN_PARAM_VALUE, RUN_TAG_VALUE
from mlflow_dynamodbstore.fts.postings import PostingChange
from mlflow_dynamodbstore.repositories.runs.items import is_spilled
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]
# The run name tag is indexed as ``run_name`` already; search serves ``tags.mlflow.runName``
# from those postings instead of writing every name twice.
_NOT_VALUES = frozenset({MLFLOW_RUN_NAME})
Fetch = Callable[[list[Item]], list[Item]]


def _document(meta: Item, field: str, key: str):
    return field_postings.value_document(
        str(meta.get("workspace", "")), field, str(meta["experiment_id"]), key, meta["run_id"]
    )


def _resolve(meta: Item, wanted: list[tuple[str, str]], fetch: Fetch) -> dict[tuple, Any]:
    """Values of (kind, key) pairs ("tags"/"params") as META holds them, spilled ones read
    in one batch."""
    run_id = meta["run_id"]
    found: dict[tuple, Any] = {}
    spilled: list[Item] = []
    for kind, key in wanted:
        value = (meta.get(kind) or {}).get(key)
        if is_spilled(value):
            spilled.append(
                keys.run_tag_key(run_id, key) if kind == "tags" else keys.param_key(run_id, key)
            )
        else:
            found[(kind, key)] = value
    for item in fetch(spilled) if spilled else []:
        kind = "params" if item["SK"].startswith(keys.PARAM_PREFIX) else "tags"
        found[(kind, item["key"])] = item.get("value")
    return found


def change_postings(
    meta: Item,
    tags: dict[str, Any],
    delete_tags: list[str],
    params: dict[str, Any],
    fetch: Fetch,
    fields: tuple[str, ...],
) -> PostingChange:
    """Postings moved by setting ``tags``, deleting ``delete_tags`` and logging new
    ``params`` on the run ``meta`` (as read before the change)."""
    change = PostingChange()
    if RUN_TAG_VALUE in fields and (tags or delete_tags):
        present = meta.get("tags") or {}
        touched = [k for k in (*tags, *delete_tags) if k in present and k not in _NOT_VALUES]
        old = _resolve(meta, [("tags", k) for k in dict.fromkeys(touched)], fetch)
        final = {k: old.get(("tags", k)) for k in touched}
        final.update((k, v) for k, v in tags.items() if k not in _NOT_VALUES)
        for key in delete_tags:
            if key not in _NOT_VALUES:
                final[key] = None
        for key, new in final.items():
            before = old.get(("tags", key))
            if before != new:
                change.extend(
                    field_postings.value_moved(_document(meta, RUN_TAG_VALUE, key), before, new)
                )
    if RUN_PARAM_VALUE in fields:
        logged = meta.get("params") or {}
        for key, value in params.items():
            if key not in logged:  # params are immutable: an equal re-log writes nothing
                doc = _document(meta, RUN_PARAM_VALUE, key)
                change.puts.extend(field_postings.value_keys(doc, value))
    return change


def run_posting_keys(meta: Item, fetch: Fetch, fields: tuple[str, ...]) -> list[Item]:
    """Every value posting key of the run (to delete or move it with the run)."""
    wanted: list[tuple[str, str]] = []
    if RUN_TAG_VALUE in fields:
        wanted += [("tags", k) for k in meta.get("tags") or {} if k not in _NOT_VALUES]
    if RUN_PARAM_VALUE in fields:
        wanted += [("params", k) for k in meta.get("params") or {}]
    if not wanted or "experiment_id" not in meta:
        return []
    values = _resolve(meta, wanted, fetch)
    field_of = {"tags": RUN_TAG_VALUE, "params": RUN_PARAM_VALUE}
    return [
        posting
        for (kind, key), value in values.items()
        for posting in field_postings.value_keys(_document(meta, field_of[kind], key), value)
    ]
