"""Traces: the META item of each trace partition ``TRACE#<trace_id>`` and the experiment
listing on GSI3 (``EXP#<id>#TRACES`` / negated timestamp + trace id).

Every change to META is read-modify-write with optimistic locking on ``version`` (a
conditional PutItem, retried after a re-read), so concurrent ``log_spans`` / ``start_trace``
/ tag / assessment writers on several servers never lose each other's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from mlflow_dynamodbstore.config.settings import SettingsSource
from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.postings import PostingChange, transact_with_postings
from mlflow_dynamodbstore.gateway import ConditionFailed, ItemTooLarge, TableGateway
from mlflow_dynamodbstore.gateway.errors import Contention, TransactionCancelled
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic, version_of
from mlflow_dynamodbstore.repositories.traces import value_postings
from mlflow_dynamodbstore.repositories.traces.codec import finalize
from mlflow_dynamodbstore.repositories.traces.name_dictionary import NameDictionary
from mlflow_dynamodbstore.repositories.traces.rollups import TraceHead
from mlflow_dynamodbstore.repositories.traces.stats import TraceStatsRepository
from mlflow_dynamodbstore.schema import (
    analytics_keys,
    indexes,
    keys,
    trace_name_keys,
    trace_name_order_keys,
)

Item = dict[str, Any]


class TraceMissing(Exception):
    """No META item for this trace id."""


class TraceExists(Exception):
    """A trace with this id was created concurrently."""


class TraceBusy(MlflowException):
    """Concurrent writers kept winning the race for the META item: retryable (503)."""

    def __init__(self, trace_id: str):
        super().__init__(
            f"Trace '{trace_id}' is being updated concurrently; please retry.",
            TEMPORARILY_UNAVAILABLE,
        )


class TraceTooLarge(Exception):
    """The write would push META past DynamoDB's 400 KB item limit."""


@contextmanager
def _size_checked() -> Iterator[None]:
    try:
        yield
    except ItemTooLarge as exc:
        raise TraceTooLarge(exc.message) from None


class TraceRepository:
    def __init__(self, gateway: TableGateway, settings: SettingsSource | None = None):
        self.gateway = gateway
        # Which opt-in trace value fields to maintain (repositories/traces/value_postings.py):
        # the server's settings; jobs without them read the table's settings item.
        self.settings = settings
        # Each distinct (experiment, name) is indexed once, before the first META naming it
        # is written (docs/full-text-search.md, "Trace names").
        self.names = NameDictionary(gateway)
        # Every META write goes through create/replace: the one place the trace's stats
        # item (analytics) is kept in step.
        self.stats = TraceStatsRepository(gateway)

    # ---- reads -------------------------------------------------------------------------
    def get(self, trace_id: str) -> Item | None:
        return self.gateway.get_item(keys.trace_key(trace_id))

    def batch_get(
        self, trace_ids: Iterable[str], *, any_workspace: bool = False
    ) -> dict[str, Item]:
        """META items by id. ``any_workspace`` also returns other workspaces' traces, for the
        one path that writes a trace's children (spans) before its META: it must refuse an
        id another workspace holds instead of taking it for a new trace."""
        gateway = getattr(self.gateway, "unscoped", self.gateway) if any_workspace else self.gateway
        found = gateway.batch_get([keys.trace_key(t) for t in trace_ids if t], consistent=True)
        return {item["trace_id"]: item for item in found}

    def read_partition(self, trace_id: str) -> tuple[Item | None, list[Item]]:
        """(META or None, the span items) of one trace: one Query per MB of the partition."""
        meta, spans = None, []
        for item in self.gateway.query(Key("PK").eq(keys.trace_pk(trace_id)), consistent=True):
            if item["SK"] == keys.META:
                meta = item
            else:
                spans.append(item)
        return meta, spans

    def existing_experiment_ids(self, experiment_ids: list[str]) -> set[str]:
        """The ids among these whose experiment exists (through the store's scoped gateway:
        in the request's workspace); one BatchGetItem per 100 ids."""
        found = self.gateway.batch_get([keys.experiment_key(e) for e in experiment_ids])
        return {str(i["experiment_id"]) for i in found}

    def list_experiment(
        self,
        experiment_id: str,
        *,
        newest: int | None = None,
        oldest: int | None = None,
        after: str | None = None,
        page_size: int | None = None,
        oldest_first: bool = False,
    ) -> Iterator[Item]:
        """An experiment's trace META items from GSI3, newest first (timestamp DESC, trace id
        ASC) or reversed; ``newest``/``oldest`` bound timestamp_ms (inclusive), ``after``
        resumes strictly after a GSI3 sort key. Lazy: stop iterating to stop reading."""
        return self._listing(
            indexes.TRACES_BY_TIMESTAMP,
            keys.traces_gsi3pk(experiment_id),
            newest,
            oldest,
            after,
            page_size,
            oldest_first,
        )

    def list_by_name(
        self,
        experiment_id: str,
        name: str,
        *,
        newest: int | None = None,
        oldest: int | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """The experiment's traces named ``name`` (or sharing its digest: callers compare
        the name) from the name listing (GSI1), in ``list_experiment``'s order and bounds."""
        pk = trace_name_keys.by_name_pk(experiment_id, name)
        return self._listing(
            indexes.TRACES_BY_NAME, pk, newest, oldest, after, page_size, oldest_first=False
        )

    def list_without_name(
        self,
        experiment_id: str,
        *,
        newest: int | None = None,
        oldest: int | None = None,
        after: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """The experiment's traces without a name (TRACES_WITHOUT_NAME, GSI1), in
        ``list_experiment``'s order and bounds."""
        pk = trace_name_order_keys.nameless_pk(experiment_id)
        return self._listing(
            indexes.TRACES_WITHOUT_NAME, pk, newest, oldest, after, page_size, oldest_first=False
        )

    def _listing(
        self,
        listing: indexes.AccessPattern,
        pk: str,
        newest: int | None,
        oldest: int | None,
        after: str | None,
        page_size: int | None,
        oldest_first: bool,
    ) -> Iterator[Item]:
        low = keys.trace_list_sk_bound(newest) if newest is not None else None
        high = keys.trace_list_sk_bound(oldest) + "$" if oldest is not None else None
        if after is not None:
            # The smallest string above ``after``: resume strictly after it.
            after_low = after + "\x00"
            low = after_low if low is None or after_low > low else low
        if low is not None and high is not None and low > high:
            return iter(())
        condition = listing.key_condition(pk, lower=low, upper=high)
        return self.gateway.query(
            condition, index=listing.index, limit=page_size, forward=not oldest_first
        )

    # ---- writes ------------------------------------------------------------------------
    def create(self, item: Item) -> Item:
        """Write a new META item; TraceExists if the trace id is taken."""
        item = finalize({**item, "version": 1})
        try:
            with _size_checked():
                self._put_meta(None, item, Attr("PK").not_exists())
        except ConditionFailed:
            raise TraceExists(item["trace_id"]) from None
        self.stats.written(None, item)
        return item

    def replace(self, old: Item, new: Item) -> Item:
        """Write ``new`` over ``old`` if nobody changed it since it was read."""
        version = version_of(old)
        item = finalize({**new, "version": version.next})
        with _size_checked():
            self._put_meta(old, item, version.condition)
        self.stats.written(old, item)
        return item

    def _put_meta(self, old: Item | None, item: Item, condition) -> None:
        """Put META on ``condition`` (ConditionFailed when false), once its name is in the
        experiment's name dictionary (a write that keeps the name reads nothing more)."""
        name = item.get("trace_name")
        renamed = old is None or (old.get("trace_name"), str(old.get("experiment_id"))) != (
            name,
            str(item.get("experiment_id")),
        )
        if name is not None and renamed:
            self.names.ensure(str(item["experiment_id"]), name)
        change = self._value_change(old, item)
        if not change:
            self.gateway.put_item(item, condition=condition)
            return
        # the tag / metadata value postings ride in META's write (one TransactWriteItems
        # instead of the PutItem, as far as they fit)
        try:
            transact_with_postings(self.gateway, [self.gateway.tx_put(item, condition)], change)
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise ConditionFailed(str(exc)) from None
            raise

    # ---- tag and metadata value postings (opt-in) ----------------------------------------
    def value_fields(self) -> tuple[str, ...]:
        """The configured trace value fields (no request with settings; else the table's
        settings item, cached for a minute)."""
        if self.settings is not None:
            return value_postings.configured(self.settings.current().fts_trigram_fields)
        return field_postings.table_trace_value_fields(self.gateway)

    def _value_change(self, old: Item | None, new: Item) -> PostingChange:
        # nothing to index or nothing indexed changed: not even the settings are asked
        if old is None and not value_postings.has_values(new):
            return PostingChange()
        if old is not None and not value_postings.differs(old, new):
            return PostingChange()
        return value_postings.change(old, new, self.value_fields())

    def mutate(
        self,
        trace_id: str,
        change: Callable[[Item], Item | None],
        *,
        current: Item | None = None,
    ) -> Item:
        """Apply ``change`` (current item -> new item, or None for no write) with optimistic
        locking (``optimistic``: re-read and retry when a concurrent writer wins; TraceBusy,
        a 503, once every attempt lost). TraceMissing if the
        trace does not exist; exceptions from ``change`` propagate. ``current``, if given, is
        a strongly consistent read of the item the caller already has (saves the first
        GetItem)."""

        def read(lost: Lost | None) -> Item:
            item = current if lost is None and current is not None else self.get(trace_id)
            if item is None:
                raise TraceMissing(trace_id)
            return item

        def write(item: Item) -> Item:
            new = change(dict(item))
            return item if new is None else self.replace(item, new)

        try:
            return optimistic(read, write, what=f"trace {trace_id}")
        except Contention:
            raise TraceBusy(trace_id) from None

    def delete(self, trace_ids: Iterable[str]) -> None:
        """Delete whole trace partitions (spans, chunks, X-Ray state, cost item, value
        postings, then META with its stats item).

        Children go first, META last: whatever fails in between leaves the trace listed
        and readable (with fewer spans), so deleting it again finishes the job; no item is
        ever left that nothing reaches. META and the stats item then go in transactions
        that subtract the stats item's rollup contribution (rollups.py), META conditioned
        on the version read with the children: a span writer that got in between makes
        the transaction fail, and the trace's partition is read and emptied again."""
        heads: list[TraceHead] = []
        children: list[Item] = []
        for trace_id in trace_ids:
            head, keys_ = self._read_for_delete(trace_id)
            children.extend(keys_)
            if head is not None:
                heads.append(head)
        self.gateway.batch_write(deletes=children)
        self.stats.rollups.delete_traces(heads, refresh=self._redo_children)

    def _read_for_delete(self, trace_id: str) -> tuple[TraceHead | None, list[Item]]:
        """(the trace's head: META key, its version, the stats item; None if neither is
        there) and the keys of every other item to delete: the partition's other items
        and META's tag / metadata value postings (the name dictionary stays: see
        name_dictionary.py)."""
        meta, stats = None, None
        children: list[Item] = []
        for item in self.gateway.query(Key("PK").eq(keys.trace_pk(trace_id)), consistent=True):
            if item["SK"] == keys.META:
                meta = item
                if value_postings.has_values(item):  # its value postings go with it
                    children.extend(value_postings.posting_keys(item, self.value_fields()))
            elif item["SK"] == analytics_keys.TRACE_STATS_SK:
                stats = item
            else:
                children.append({"PK": item["PK"], "SK": item["SK"]})
        if meta is None and stats is None:
            return None, children
        meta_key = {"PK": keys.trace_pk(trace_id), "SK": keys.META}
        version = None if meta is None else int(meta.get("version", 0))
        return TraceHead(meta_key, meta is not None, version, stats), children

    def _redo_children(self, head: TraceHead) -> TraceHead | None:
        """A head's transaction failed its condition (the trace was written meanwhile):
        delete the children found now and return the head as it is now."""
        trace_id = head.meta_key["PK"].split(keys.SEP, 1)[1]
        fresh, children = self._read_for_delete(trace_id)
        self.gateway.batch_write(deletes=children)
        return fresh
