"""A trace's name in the trigram index (``fts/``, docs/full-text-search.md).

Only when ``trace_name`` is configured (``fts add``; off by default: the write cost, see
docs/full-text-search.md). One posting list per experiment (the scope ``search_traces``
reads), keyed by the trace's workspace. Trace names may be 4,096 characters long, so at
most ``TRACE_NAME_CAP`` distinct trigrams are indexed; a longer name puts its trace on the
experiment's overflow list, which every indexed search takes as candidates, so results
stay exact. Postings carry the trace's ``ttl``: DynamoDB TTL removes them with the trace.

These functions only compute items; ``TraceRepository`` writes them with META (in its
transaction), and the workspace jobs, TTL apply and the backfill reuse them.
"""

from __future__ import annotations

from typing import Any

from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.settings import StoreSettings
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.gateway import TableGateway

Item = dict[str, Any]

# 200 distinct trigrams: names up to ~200 characters are indexed whole (a name holds fewer
# distinct trigrams than characters), a create stays within one transaction (100 actions)
# plus one batch, and the worst name costs ~200 posting writes, not 4,094.
TRACE_NAME_CAP = 200


def configured(gateway: TableGateway) -> bool:
    """Whether the table's stored settings index trace names (one GetItem): jobs ask once,
    and skip the postings of a field that is off (any left from when it was on are stale
    candidates a later backfill overwrites or a search's verification drops)."""
    unscoped = getattr(gateway, "unscoped", gateway)
    stored = ConfigItems(unscoped).load() or StoreSettings()
    return stored.indexes_trigrams(postings.TRACE_NAME)


def name_document(meta: Item) -> postings.Document:
    return postings.Document(
        str(meta.get("workspace") or DEFAULT_WORKSPACE_NAME),
        postings.TRACE_NAME,
        str(meta["experiment_id"]),
        meta["trace_id"],
    )


def posting_keys(meta: Item) -> list[Item]:
    """The keys of every posting of the trace's name (overflow entry included)."""
    return name_document(meta).bounded_keys(meta.get("trace_name"), TRACE_NAME_CAP)


def posting_items(meta: Item) -> list[Item]:
    """The posting items of the trace's name, with the trace's ttl."""
    ttl = meta.get("ttl")
    extra = {"ttl": ttl} if ttl is not None else {}
    return [{**key, **extra} for key in posting_keys(meta)]


def name_change(before: Item | None, after: Item) -> postings.PostingChange:
    """What a META write from ``before`` (None: a new trace) to ``after`` does to the
    postings: nothing unless the name, the ttl, the workspace or the experiment changed."""
    if before is None:
        return postings.PostingChange(puts=posting_items(after))
    fields = ("trace_name", "ttl", "workspace", "experiment_id")
    if all(before.get(f) == after.get(f) for f in fields):
        return postings.PostingChange()
    rewrite = before.get("ttl") != after.get("ttl")
    return postings.diff(posting_items(before), posting_items(after), rewrite=rewrite)
