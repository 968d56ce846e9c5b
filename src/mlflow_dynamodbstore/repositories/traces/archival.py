"""Trace archival's reads and writes on the table: which traces are candidates, the flip of a
trace's META to "spans in the archive", the content strip of its span items afterwards, and
the guard every span writer runs so a write and an archival never both win.

The state lives on the trace's META item:

- ``tags[mlflow.trace.spansLocation]``: absent or ``TRACKING_STORE`` while the spans are in
  the table, ``ARCHIVE_REPO`` once archived (``tags[mlflow.trace.archiveLocation]`` then
  names the payload's artifact URI), as the SQL store's ``trace_tags``.
- ``payload_gen``: the SQL store's ``db_payload_generation``. Every span write bumps it in
  the same conditional META write that records the spans; archival remembers the value it
  read with the spans and flips META only if it is unchanged (a conditional PutItem on
  META's ``version``, re-read and re-checked when another writer won).
- ``archive_strip``: set by the flip, removed once the span items have lost their content.
  A pass that finds it (the previous one crashed in between) finishes the strip.

Span items are not deleted: the SQL store keeps its ``spans`` rows (name, type, status,
times) and only empties ``content``, so span filters and span metrics of an archived trace
answer the same. Here each span's head keeps its columns and loses ``z`` (the compressed
content); its chunk items are deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage, TraceState
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE, RESOURCE_DOES_NOT_EXIST
from mlflow.tracing.constant import SpansLocation, TraceTagKey

from mlflow_dynamodbstore.gateway import ConditionFailed
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository
from mlflow_dynamodbstore.repositories.traces import span_facts
from mlflow_dynamodbstore.repositories.traces.codec import STRIP_PENDING, awaits_archival
from mlflow_dynamodbstore.repositories.traces.repository import TraceMissing, TraceRepository
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow, rows_from_items
from mlflow_dynamodbstore.schema import indexes, keys, tag_index_keys, trace_archival_keys

Item = dict[str, Any]

PAYLOAD_GEN = "payload_gen"
_TAG_CLEAR_ATTEMPTS = 5
# The states whose spans are complete (the SQL store's finalize-time check).
_FINISHED = {TraceState.OK.value, TraceState.ERROR.value, TraceState.STATE_UNSPECIFIED.value}


# ---- the state of one META item -------------------------------------------------------
def spans_location(item: Item) -> str | None:
    return (item.get("tags") or {}).get(TraceTagKey.SPANS_LOCATION)


def is_db_backed(item: Item) -> bool:
    return spans_location(item) in (None, SpansLocation.TRACKING_STORE.value)


def is_archived(item: Item) -> bool:
    return spans_location(item) == SpansLocation.ARCHIVE_REPO.value


def payload_gen(item: Item) -> int:
    return int(item.get(PAYLOAD_GEN) or 0)


def metadata_actionable(item: Item) -> bool:
    """META says the trace may be archived: spans in the table, no recorded archival
    failure, the trace finished."""
    return (
        is_db_backed(item)
        and TraceTagKey.ARCHIVAL_FAILURE not in (item.get("tags") or {})
        and item.get("status") in _FINISHED
    )


def has_content(rows: list[SpanRow]) -> bool:
    return any(r.content != "" for r in rows)


# ---- the span writers' guard ------------------------------------------------------------
class SpanWriteRefused(MlflowException):
    """Spans written to a trace whose spans are no longer in the table."""


def write_conflict(blocked: dict[str, str], missing: list[str]) -> MlflowException:
    """The SQL store's error for span writes to traces whose spans are no longer in the
    table (``blocked``: trace id -> spans location) or that no longer exist."""
    archived = sorted(t for t, loc in blocked.items() if loc == SpansLocation.ARCHIVE_REPO.value)
    other = sorted(t for t, loc in blocked.items() if loc != SpansLocation.ARCHIVE_REPO.value)
    missing = sorted(missing)

    def quoted(ids: list[str]) -> str:
        return ", ".join(f"'{t}'" for t in ids)

    if archived and not other and not missing:
        return SpanWriteRefused(
            f"Cannot log spans to archived traces: {quoted(archived)}.", INVALID_STATE
        )
    if missing and not archived and not other:
        return SpanWriteRefused(
            f"Cannot log spans to traces that no longer exist: {quoted(missing)}.",
            RESOURCE_DOES_NOT_EXIST,
        )
    groups = [
        f"{name}={quoted(ids)}"
        for name, ids in (("archived", archived), ("other", other), ("missing", missing))
        if ids
    ]
    suffix = f": {'; '.join(groups)}" if groups else "."
    return SpanWriteRefused(
        "Cannot log spans because one or more traces are unavailable for DB-backed span "
        f"writes{suffix}",
        INVALID_STATE,
    )


def refuse_span_writes(items: dict[str, Item]) -> None:
    """Raise the SQL store's conflict if any of these META items is not DB-backed."""
    blocked = {t: spans_location(i) or "" for t, i in items.items() if not is_db_backed(i)}
    if blocked:
        raise write_conflict(blocked, [])


def guarded(change: Callable[[Item], Item | None]) -> Callable[[Item], Item | None]:
    """A span writer's META ``mutate`` callback, made to refuse a trace archived meanwhile
    and to bump ``payload_gen`` (so an archival that read the spans before this write
    cannot flip META after it)."""

    def apply(current: Item) -> Item | None:
        refuse_span_writes({current["trace_id"]: current})
        new = change(current)
        new = dict(current) if new is None else new
        new[PAYLOAD_GEN] = payload_gen(current) + 1
        return new

    return apply


# ---- the archival repository ------------------------------------------------------------
class TraceArchivalRepository:
    def __init__(self, traces: TraceRepository, experiments: ExperimentRepository):
        self.traces = traces
        self.experiments = experiments
        self.gateway = traces.gateway
        # Experiments whose archival listing is known complete (the state item was read or
        # written): only ever grows, so being stale costs at most one GetItem.
        self._listed: set[str] = set()

    # ---- experiments -----------------------------------------------------------------
    def active_experiments(self, workspace: str) -> list[Item]:
        """The workspace's active experiment items (the per-workspace experiment listing,
        GSI1; may lag the table by about a second), by experiment id as the SQL store."""
        listed = self.experiments.list_in_workspace(workspace, LifecycleStage.ACTIVE)
        return sorted(listed, key=lambda e: int(e["experiment_id"]))

    def clear_experiment_tag_if(self, experiment_id: str, key: str, value: str) -> bool:
        """Remove an experiment tag only while it still has ``value`` (a newer value
        written meanwhile stays). Tag keys hold dots, which condition paths cannot name, so
        the condition is on the whole tag map as read (re-read and retried if any tag
        changed). Whether it was removed."""
        for _ in range(_TAG_CLEAR_ATTEMPTS):
            item = self.experiments.get(experiment_id)
            tags = (item or {}).get("tags") or {}
            if tags.get(key) != value:
                return False
            try:
                self.gateway.update_item(
                    keys.experiment_key(experiment_id),
                    "REMOVE #u_tags.#u_key",
                    names={"#u_tags": "tags", "#u_key": key},
                    condition=Attr("tags").eq(tags),
                )
            except ConditionFailed:
                continue
            if self.experiments.tag_indexed(key):
                self.gateway.delete_item(tag_index_keys.experiment_entry_key(experiment_id, key))
            return True
        return False

    # ---- candidates ------------------------------------------------------------------
    def listed_up_to(self, experiment_id: str, cutoff_ms: int | None) -> Iterator[Item]:
        """The META items of an experiment's traces that archival still has work on (spans
        in the table, or a strip pending) with timestamp_ms <= cutoff (all if None), oldest
        first, from archival's sparse listing (GSI4; may lag the table): traces already
        archived are not read. An experiment whose older traces predate the listing has
        them listed first (``ensure_listed``)."""
        self.ensure_listed(experiment_id)
        low = keys.trace_list_sk_bound(cutoff_ms) if cutoff_ms is not None else None
        listing = indexes.TRACES_NOT_ARCHIVED
        condition = listing.key_condition(
            trace_archival_keys.unarchived_traces_pk(experiment_id), lower=low
        )
        return self.gateway.query(condition, index=listing.index, forward=False)

    def ensure_listed(self, experiment_id: str) -> None:
        """Make the experiment's archival listing complete, once: traces written before the
        listing existed lack its keys; each that archival still has work on is rewritten
        (its META put again: the keys come with it), then the experiment's state item says
        the listing is complete. Resumable: a crash before the state item only redoes the
        walk. The state item is the table's, not a workspace's (experiment ids are global;
        a workspace move must not make it invisible)."""
        if experiment_id in self._listed:
            return
        table = getattr(self.gateway, "unscoped", self.gateway)
        state_key = trace_archival_keys.index_state_key(experiment_id)
        if table.get_item(state_key) is None:
            attribute = indexes.TRACES_NOT_ARCHIVED.pk
            for item in self.traces.list_experiment(experiment_id):
                if attribute in item or not awaits_archival(item):
                    continue
                try:
                    self.traces.mutate(item["trace_id"], _relisted)
                except TraceMissing:
                    continue
            table.put_item({**state_key, "experiment_id": str(experiment_id)})
        self._listed.add(experiment_id)

    def may_have_spans(self, item: Item) -> bool:
        """Whether the trace has span items: META's span facts say so; a trace without
        usable facts (stored before facts existed, or too many spans) is asked with a
        one-item Query."""
        facts = item.get(span_facts.FACTS)
        if span_facts.FACTS in item and not item.get(span_facts.OVERFLOW):
            return bool(facts)
        found, _ = self.gateway.query_page(
            Key("PK").eq(keys.trace_pk(item["trace_id"]))
            & Key("SK").begins_with(keys.TRACE_SPAN_PREFIX),
            limit=1,
            consistent=True,
        )
        return bool(found)

    def is_candidate(self, item: Item) -> bool:
        return metadata_actionable(item) and self.may_have_spans(item)

    def candidates(
        self, experiment_id: str, cutoff_ms: int | None, limit: int | None
    ) -> tuple[list[Item], list[Item]]:
        """(candidates, unfinished strips) of one experiment: its oldest archivable traces
        (timestamp_ms <= cutoff, ordered by timestamp then trace id, at most ``limit``), and
        the archived traces met on the way whose strip a crashed pass left undone."""
        picked: list[Item] = []
        strips: list[Item] = []
        for item in self.listed_up_to(experiment_id, cutoff_ms):
            if item.get(STRIP_PENDING) and is_archived(item):
                strips.append(item)
                continue
            if (
                limit is not None
                and len(picked) >= limit
                and int(item["timestamp_ms"]) != int(picked[-1]["timestamp_ms"])
            ):
                # The listing gives trace ids descending within one timestamp: the group at
                # the boundary is read whole before sorting.
                break
            if self.is_candidate(item):
                picked.append(item)
        picked.sort(key=lambda i: (int(i["timestamp_ms"]), i["trace_id"]))
        return (picked[:limit] if limit is not None else picked), strips

    # ---- one trace --------------------------------------------------------------------
    def read(self, trace_id: str) -> tuple[Item | None, list[Item]]:
        """META (None if gone or of another workspace) and the span items, consistently."""
        meta, items = self.traces.read_partition(trace_id)
        if meta is not None and not self.gateway.visible(meta):
            meta = None
        span_items = [
            i
            for i in items
            if i["SK"].startswith((keys.TRACE_SPAN_PREFIX, keys.TRACE_SPAN_CHUNK_PREFIX))
        ]
        return meta, span_items

    @staticmethod
    def span_rows(span_items: list[Item]) -> list[SpanRow]:
        return rows_from_items(span_items)

    def flip(
        self, trace_id: str, artifact_uri: str, generation: int, current: Item | None = None
    ) -> Item | None:
        """Point META at the archived payload if nothing wrote spans since ``generation``
        was read and the trace is still archivable: the new META, or None. ``current``:
        the META read with the spans (saves a read; re-read if another writer won)."""
        flipped = False

        def change(item: Item) -> Item | None:
            nonlocal flipped
            flipped = False
            if payload_gen(item) != generation or not metadata_actionable(item):
                return None
            tags = dict(item.get("tags") or {})
            tags.pop(TraceTagKey.ARCHIVAL_FAILURE, None)
            tags[TraceTagKey.SPANS_LOCATION] = SpansLocation.ARCHIVE_REPO.value
            tags[TraceTagKey.ARCHIVE_LOCATION] = artifact_uri
            item["tags"] = tags
            item[STRIP_PENDING] = True
            flipped = True
            return item

        try:
            new = self.traces.mutate(trace_id, change, current=current)
        except TraceMissing:
            return None
        return new if flipped else None

    def mark_failure(
        self, trace_id: str, reason: str, generation: int | None, current: Item | None = None
    ) -> None:
        """Record a terminal archival failure (``mlflow.trace.archivalFailure``) so later
        passes skip the trace, unless its spans changed since ``generation``."""

        def change(item: Item) -> Item | None:
            if not is_db_backed(item):
                return None
            if generation is not None and payload_gen(item) != generation:
                return None
            item["tags"] = {**(item.get("tags") or {}), TraceTagKey.ARCHIVAL_FAILURE: reason}
            return item

        try:
            self.traces.mutate(trace_id, change, current=current)
        except TraceMissing:
            return

    def strip(self, meta: Item, span_items: list[Item] | None = None) -> None:
        """Drop the span content of an archived trace (``meta``: its META as last read or
        written): heads keep their columns and lose ``z``, chunk items are deleted; then
        the pending mark leaves META. Idempotent. ``span_items``: the trace's span items
        if already read (else read here)."""
        trace_id = meta["trace_id"]
        if span_items is None:
            current, span_items = self.read(trace_id)
            if current is None or not is_archived(current):
                return  # deleted meanwhile: nothing to strip (and nothing to put back)
            meta = current
        self.strip_written(span_items)
        if not meta.get(STRIP_PENDING):
            return

        def done(item: Item) -> Item | None:
            if not item.get(STRIP_PENDING):
                return None
            item.pop(STRIP_PENDING, None)
            return item

        try:
            self.traces.mutate(trace_id, done, current=meta)
        except TraceMissing:
            # Deleted while we stripped: the heads we put back are out of its deletion's
            # reach, so they go here.
            heads, _ = _stripped(span_items)
            self.gateway.batch_write(deletes=[{"PK": h["PK"], "SK": h["SK"]} for h in heads])

    def strip_written(self, span_items: list[Item]) -> None:
        """Strip these span items (also those a refused writer had already put: its trace
        was archived between its span write and its META check)."""
        heads, chunks = _stripped(span_items)
        if chunks:
            self.gateway.batch_write(deletes=chunks)
        if heads:
            self.gateway.batch_write(puts=heads)


def _relisted(item: Item) -> Item:
    """A META write with no change: putting it again adds the keys it lacks."""
    return item


def _stripped(span_items: list[Item]) -> tuple[list[Item], list[Item]]:
    """(heads without content, keys of chunk items) of these span items."""
    heads: list[Item] = []
    chunks: list[Item] = []
    for item in span_items:
        sk: str = item["SK"]
        if sk.startswith(keys.TRACE_SPAN_CHUNK_PREFIX):
            chunks.append({"PK": item["PK"], "SK": sk})
        elif sk.startswith(keys.TRACE_SPAN_PREFIX):
            if bytes(item.get("z") or b"") == b"" and int(item.get("chunks") or 1) == 1:
                continue  # already stripped
            heads.append({**item, "z": b"", "chunks": 1})
    return heads, chunks
