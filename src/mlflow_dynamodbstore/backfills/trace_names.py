"""The trace-name part of ``fts backfill`` (backfills/fts.py): for every trace of a table
written before the name dictionary existed, its name in the experiment's dictionary
(repositories/traces/name_dictionary.py: postings once per distinct name) and its META on
the name listing (GSI1 keys). Walked page by page of each experiment's GSI3 listing, so the
FTS backfill's cursor resumes it; every write is idempotent.

A META lacking its listing keys gets them by UpdateItem conditioned on the ``version``
read and the name unchanged: a writer that got in between wrote META through this version's
``finalize``, which sets them (run the backfill once every server runs this version).

Tables that had the earlier per-trace postings (``trace_name`` opt-in: the marker
``trace_name.postings`` exists) have them deleted on the way (1 write unit per posting);
nothing reads them any more.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.traces.codec import name_listing_keys
from mlflow_dynamodbstore.repositories.traces.name_dictionary import NAME_CAP, NameDictionary
from mlflow_dynamodbstore.schema import fts_keys, indexes, keys

Item = dict[str, Any]


def had_trace_postings(gateway: TableGateway) -> bool:
    """Whether the table may hold per-trace name postings of an earlier version."""
    return gateway.get_item(fts_keys.marker_key(fts_keys.LEGACY_TRACE_NAME_MARKER)) is not None


def forget_trace_postings(gateway: TableGateway) -> None:
    gateway.delete_item(fts_keys.marker_key(fts_keys.LEGACY_TRACE_NAME_MARKER))


def legacy_posting_keys(meta: Item) -> list[Item]:
    """The earlier version's postings of one trace (field ``trace_name``, keyed by trace)."""
    document = postings.Document(
        str(meta.get("workspace") or DEFAULT_WORKSPACE_NAME),
        postings.TRACE_NAME,
        str(meta["experiment_id"]),
        meta["trace_id"],
    )
    return document.bounded_keys(meta.get("trace_name"), NAME_CAP)


class TraceNameBackfill:
    def __init__(self, gateway: TableGateway, drop_legacy: bool):
        self.gateway = gateway
        self.dictionary = NameDictionary(gateway)
        self.drop_legacy = drop_legacy

    def page(self, metas: list[Item]) -> int:
        """Index one listing page of traces; the items written or deleted."""
        written = 0
        legacy: list[Item] = []
        for meta in metas:
            name = meta.get("trace_name")
            if self.drop_legacy and name is not None:
                legacy.extend(legacy_posting_keys(meta))
            if name is None:
                continue
            written += self.dictionary.ensure(str(meta["experiment_id"]), name)
            written += self._list(meta)
        self.gateway.batch_write(deletes=legacy)
        return written + len(legacy)

    def _list(self, meta: Item) -> int:
        wanted = name_listing_keys(meta)
        if all(meta.get(k) == v for k, v in wanted.items()):
            return 0
        listing = indexes.TRACES_BY_NAME
        condition = Attr("version").eq(meta.get("version")) & Attr("trace_name").eq(
            meta["trace_name"]
        )
        if meta.get("version") is None:
            condition = Attr("version").not_exists() & Attr("trace_name").eq(meta["trace_name"])
        try:
            self.gateway.update_item(
                keys.trace_key(meta["trace_id"]),
                "SET #upk = :upk, #usk = :usk",
                names={"#upk": listing.pk, "#usk": listing.sk},
                values={":upk": wanted[listing.pk], ":usk": wanted[listing.sk]},
                condition=condition,
            )
        except ConditionFailed:
            return 0  # written meanwhile, by finalize (which keys it), or deleted
        return 1
