"""Postings of configurable fields: tag and param values (docs/full-text-search.md,
"Fields beyond names").

A value is indexed under its key: one posting list per (scope, key, trigram), so a filter
``tags.x LIKE '%abc%'`` reads only postings of values of ``x``. Values may be long (tag
values up to 8,000 characters), so indexing is bounded like trace names: at most
``VALUE_CAP`` distinct trigrams (in text order) per value; a value with more is also put
on the (scope, key) overflow list, which every indexed search of that key reads, so
results stay exact.

These fields are only written and searched when configured (``fts_trigram_fields``), and
only searched once ready: switching one on marks it unready (config/items.py, as for every
opt-in field) until ``fts backfill`` has built its postings.
"""

from __future__ import annotations

import time
from typing import Any

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.postings import PostingChange
from mlflow_dynamodbstore.schema import fts_keys

Item = dict[str, Any]

RUN_TAG_VALUE = "run_tag_value"
RUN_PARAM_VALUE = "run_param_value"
# The run value fields (repositories/runs/value_postings.py); opt-in like every value field
# (config/settings.py OPT_IN_TRIGRAM_FIELDS).
VALUE_FIELDS: tuple[str, ...] = (RUN_TAG_VALUE, RUN_PARAM_VALUE)
# Experiment tag values, descriptions (the mlflow.note.content tag) included
# (repositories/experiment_tag_values.py).
EXPERIMENT_TAG_VALUE = "experiment_tag_value"
# Registered model tag values (repositories/registry/model_tag_values.py).
MODEL_TAG_VALUE = "model_tag_value"
# Model version tag values (repositories/registry/model_version_tag_values.py).
MODEL_VERSION_TAG_VALUE = "model_version_tag_value"
# Trace tag and request metadata values (repositories/traces/value_postings.py): per
# experiment and key, with the trace's ttl.
TRACE_TAG_VALUE = "trace_tag_value"
TRACE_METADATA_VALUE = "trace_metadata_value"
TRACE_VALUE_FIELDS: tuple[str, ...] = (TRACE_TAG_VALUE, TRACE_METADATA_VALUE)

# Distinct trigrams indexed per value: a 200-character value has about 200, typical tag
# and param values (ids, paths, short notes) far fewer. A longer value costs one overflow
# entry instead of up to ~8,000 postings.
VALUE_CAP = 200


def value_document(workspace: str, field: str, scope: str, key: str, entity_id: str):
    """The value of ``entity_id``'s tag/param ``key`` within ``scope``."""
    return postings.Document(workspace, field, fts_keys.keyed_scope(scope, key), entity_id)


def value_keys(document: postings.Document, value: Any) -> list[Item]:
    """Posting keys of one value (bounded; the overflow entry when cut)."""
    if not isinstance(value, str):
        return []  # a tag set to None has no text to find
    return document.bounded_keys(value, VALUE_CAP)


def value_moved(document: postings.Document, old: Any, new: Any) -> PostingChange:
    """From the postings of ``old`` to those of ``new``: only the difference is written."""
    return postings.diff(value_keys(document, old), value_keys(document, new))


def configured(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The value fields among configured ``fields`` that this version maintains."""
    return tuple(f for f in VALUE_FIELDS if f in fields)


_TABLE_FIELDS: dict[str, tuple[float, tuple[str, ...]]] = {}
_TABLE_FIELDS_SECONDS = 60.0


def _table_fields(gateway) -> tuple[str, ...]:
    """Every field configured in the table's settings item: 1 GetItem, cached for 60 s per
    table in this process (like the servers' settings)."""
    from mlflow_dynamodbstore.config.items import ConfigItems

    unscoped = getattr(gateway, "unscoped", gateway)
    endpoint = getattr(getattr(unscoped.client, "meta", None), "endpoint_url", "")
    table = f"{endpoint}/{unscoped.table_name}"
    cached = _TABLE_FIELDS.get(table)
    if cached is not None and time.monotonic() - cached[0] < _TABLE_FIELDS_SECONDS:
        return cached[1]
    stored = ConfigItems(unscoped).load()
    fields = stored.fts_trigram_fields if stored is not None else ()
    _TABLE_FIELDS[table] = (time.monotonic(), fields)
    return fields


def table_value_fields(gateway) -> tuple[str, ...]:
    """The run value fields configured in the table's settings item, for admin jobs
    (cascades, workspace moves, cleanup) that have no settings source. Servers reconcile
    their environment into that item at start, so it names every configured field. A field
    added within the cache's minute may leave postings of a run deleted meanwhile:
    candidates the search verifies away."""
    return configured(_table_fields(gateway))


def table_trace_value_fields(gateway) -> tuple[str, ...]:
    """The trace value fields configured in the table's settings item (as
    ``table_value_fields``), for writers and jobs without a settings source."""
    fields = _table_fields(gateway)
    return tuple(f for f in TRACE_VALUE_FIELDS if f in fields)


def table_indexes(gateway, field: str) -> bool:
    """Whether the table's settings item configures ``field`` (as ``table_value_fields``)."""
    return field in _table_fields(gateway)


def forget_table_fields() -> None:
    """Drop this process's cache of the table's value fields (after ``fts add/remove``)."""
    _TABLE_FIELDS.clear()
