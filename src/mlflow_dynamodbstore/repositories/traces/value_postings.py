"""Trigram postings of trace tag and request metadata values (``trace_tag_value``,
``trace_metadata_value``; fts/field_postings.py), when those fields are configured.

A value is indexed per trace under its experiment and key (schema/trace_value_keys.py), so
``tags.team LIKE '%vision%'`` in search_traces reads only postings of ``team`` in the
searched experiments. Bounded like every value field (``VALUE_CAP`` trigrams, then the
(experiment, key) overflow list).

**Which keys.** Keys under ``mlflow.`` are not indexed. Every trace carries a dozen of them
(``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.type``,
``mlflow.artifactLocation`` — a per-trace path of ~100 distinct trigrams —,
``mlflow.trace.sizeBytes``, ``mlflow.trace.sizeStats``, ``mlflow.trace_schema.version``,
token usage and cost JSON…): indexing them would put hundreds of postings on every trace
write for values searched with LIKE rarely if ever; the trace name (``mlflow.traceName``,
stored apart) has its own dictionary. Filters on them take the listing path, unchanged.

**Lifecycle.** Postings carry the trace's ``ttl``: DynamoDB TTL removes them with the
trace (``ttl apply`` rewrites them with META's new ttl). ``TraceRepository`` writes them
with META (``change``: in its transaction as far as it fits) and deletes them with the
trace (``posting_keys``); a workspace ``CASCADE`` and experiment purge delete them before
the trace's partition. A workspace move has nothing to move (no workspace in the keys).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.fts import field_postings, postings
from mlflow_dynamodbstore.fts.field_postings import (
    TRACE_METADATA_VALUE,
    TRACE_TAG_VALUE,
    TRACE_VALUE_FIELDS,
)
from mlflow_dynamodbstore.fts.postings import PostingChange
from mlflow_dynamodbstore.schema import trace_value_keys
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE

Item = dict[str, Any]

# Where each field's values live on META (repositories/traces/codec.py).
MAPS: dict[str, str] = {TRACE_TAG_VALUE: "tags", TRACE_METADATA_VALUE: "metadata"}
SYSTEM_PREFIX = "mlflow."


def indexed_key(key: str) -> bool:
    """Whether values of this tag / metadata key are indexed (see the module's doc)."""
    return not key.startswith(SYSTEM_PREFIX)


def configured(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The trace value fields among configured ``fields``."""
    return tuple(f for f in TRACE_VALUE_FIELDS if f in fields)


def _indexed_values(meta: Item, field: str) -> list[tuple[str, str]]:
    values = meta.get(MAPS[field]) or {}
    return sorted((k, v) for k, v in values.items() if indexed_key(k) and isinstance(v, str))


def has_values(meta: Item) -> bool:
    """Whether META holds any value a trace value field would index."""
    return any(_indexed_values(meta, f) for f in TRACE_VALUE_FIELDS)


def _state(meta: Item) -> tuple:
    """What a trace's postings are made of: META writes that keep it move no posting."""
    return (
        str(meta.get("experiment_id")),
        meta.get(TTL_ATTRIBUTE),
        *(tuple(_indexed_values(meta, f)) for f in TRACE_VALUE_FIELDS),
    )


def differs(old: Item, new: Item) -> bool:
    return _state(old) != _state(new)


def document(field: str, experiment_id: str, key: str, trace_id: str) -> postings.Document:
    return postings.Document(
        trace_value_keys.ANY_WORKSPACE,
        field,
        trace_value_keys.value_scope(experiment_id, key),
        trace_id,
    )


def posting_keys(meta: Item, fields: tuple[str, ...]) -> list[Item]:
    """The keys of every posting of the trace's indexed values (overflow entries
    included), for the configured trace value ``fields``."""
    experiment_id, trace_id = str(meta["experiment_id"]), meta["trace_id"]
    return [
        posting
        for field in configured(fields)
        for key, value in _indexed_values(meta, field)
        for posting in field_postings.value_keys(
            document(field, experiment_id, key, trace_id), value
        )
    ]


def posting_items(meta: Item, fields: tuple[str, ...]) -> list[Item]:
    """``posting_keys`` as items, with the trace's ttl."""
    ttl = meta.get(TTL_ATTRIBUTE)
    extra = {TTL_ATTRIBUTE: int(ttl)} if ttl is not None else {}
    return [{**key, **extra} for key in posting_keys(meta, fields)]


def change(old: Item | None, new: Item, fields: tuple[str, ...]) -> PostingChange:
    """What a META write from ``old`` (None: a new trace) to ``new`` does to the postings:
    the keys only ``new`` has are put, those only ``old`` had deleted; all of ``new``'s
    rewritten when the ttl changed."""
    if not configured(fields):
        return PostingChange()
    if old is None:
        return PostingChange(puts=posting_items(new, fields))
    if not differs(old, new):
        return PostingChange()
    rewrite = old.get(TTL_ATTRIBUTE) != new.get(TTL_ATTRIBUTE)
    return postings.diff(posting_items(old, fields), posting_items(new, fields), rewrite=rewrite)
