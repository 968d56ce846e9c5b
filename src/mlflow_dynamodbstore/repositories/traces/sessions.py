"""Trace sessions: per (experiment, session id) a head with the first and last trace
timestamp, listed by its last trace, and a member item per trace (docs/trace-analytics.md,
"Sessions"; keys in schema/session_keys.py).

Write path, in two steps:

1. **In the trace's stats transaction** (``rollups.py``): the member of the trace's old
   (session, timestamp) is deleted, the new one put, and each head touched: ``tok`` set to a
   fresh random token. Member writes are idempotent (keyed by trace and timestamp) and the
   stats transaction is conditioned on the stored stats item, so members always mirror the
   stats items: one member per trace with a session id.
2. **Settle** (right after the transaction, or by anyone who finds a head unsettled): read
   the session's partition (strongly consistent; a session has few traces), take its first
   and last member, and write them to the head with its listing key, conditioned on ``tok``
   being the token read. A transaction that touched the session meanwhile changed ``tok``,
   so a settle computed from an older member set never lands; the loop re-reads. An empty
   session's head is deleted (conditioned the same way); tokens are random, so a head
   recreated later never matches a stale settle.

Cost per write of a trace with a session: 1 member put (+ 1 delete when the session or
timestamp changed) and 1 head update inside the existing transaction, then 1 Query of the
session's partition and, when first or last moved, 1 UpdateItem.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.errors import ConditionFailed, Contention, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.schema import analytics_keys, indexes, session_keys

Item = dict[str, Any]
TOKEN = "tok"
SETTLED = "stok"  # the token the head's first/last were computed at
TIMES = "ts"
MAX_TIMES = 64
_ATTEMPTS = 8


@dataclass(frozen=True)
class Membership:
    """Where a stats item puts its trace: one session, at one timestamp."""

    experiment_id: str
    session_id: str
    timestamp_ms: int
    trace_id: str
    workspace: str | None
    ttl: int | None

    @property
    def session(self) -> tuple[str, str]:
        return (self.experiment_id, self.session_id)


def membership(stats: Item | None) -> Membership | None:
    """The session membership a stats (or META) item records; None without a session."""
    if not stats:
        return None
    session_id = decode_analytics(stats.get("analytics")).get("session_id")
    if session_id is None or stats.get("timestamp_ms") is None:
        return None
    ttl = stats.get("ttl")
    return Membership(
        experiment_id=str(stats["experiment_id"]),
        session_id=str(session_id),
        timestamp_ms=int(stats["timestamp_ms"]),
        trace_id=str(stats["trace_id"]),
        workspace=stats.get("workspace"),
        ttl=None if ttl is None else int(ttl),
    )


def _member_item(m: Membership) -> Item:
    item: Item = {
        **session_keys.member_key(m.experiment_id, m.session_id, m.timestamp_ms, m.trace_id),
        "trace_id": m.trace_id,
        "timestamp_ms": m.timestamp_ms,
    }
    if m.workspace is not None:
        item["workspace"] = m.workspace
    if m.ttl is not None:
        item["ttl"] = m.ttl
    return item


def _touch(gateway: TableGateway, m: Membership) -> dict:
    names = {"#t": TOKEN, "#s": "sid", "#e": "experiment_id"}
    values: dict[str, Any] = {
        ":t": uuid.uuid4().hex[:16],
        ":s": m.session_id,
        ":e": m.experiment_id,
    }
    sets = ["#t = :t", "#s = :s", "#e = :e"]
    if m.workspace is not None:
        names["#w"], values[":w"] = "workspace", m.workspace
        sets.append("#w = :w")
    return gateway.tx_update(
        session_keys.head_key(*m.session),
        "SET " + ", ".join(sets),
        names=names,
        values=values,
    )


def transaction_actions(
    gateway: TableGateway, changes: Iterable[tuple[Membership | None, Membership | None]]
) -> tuple[list[dict], set[tuple[str, str]]]:
    """The member and head writes of (old, new) memberships for one transaction (each head
    touched once), and the sessions to settle after it."""
    actions: list[dict] = []
    heads: dict[tuple[str, str], Membership] = {}
    for old, new in changes:
        if old == new:
            continue
        same_member = (
            old is not None
            and new is not None
            and (old.session, old.timestamp_ms, old.trace_id)
            == (new.session, new.timestamp_ms, new.trace_id)
        )
        if old is not None and not same_member:
            actions.append(
                gateway.tx_delete(
                    session_keys.member_key(
                        old.experiment_id, old.session_id, old.timestamp_ms, old.trace_id
                    )
                )
            )
            heads.setdefault(old.session, old)
        if new is not None:
            actions.append(gateway.tx_put(_member_item(new)))
            heads[new.session] = new
    actions += [_touch(gateway, m) for m in heads.values()]
    return actions, set(heads)


def action_count(old: Item | None, new: Item | None) -> int:
    """How many transaction actions ``transaction_actions`` adds for one trace (at most)."""
    a, b = membership(old), membership(new)
    if a == b:
        return 0
    return (a is not None) * 2 + (b is not None) * 2  # member and head, each side


@dataclass(frozen=True)
class SessionHead:
    experiment_id: str
    session_id: str
    first_ms: int
    last_ms: int
    # The distinct timestamps of its traces, oldest first (None for a long session).
    times: tuple[int, ...] | None = None


def _head(item: Item) -> SessionHead:
    first = int(item["first"])
    offsets = item.get(TIMES)
    return SessionHead(
        str(item["experiment_id"]),
        str(item["sid"]),
        first,
        int(item["last"]),
        None if offsets is None else tuple(first + int(o, 36) for o in offsets.split(",")),
    )


def _desired(members: list[Item]) -> Item:
    """What a settled head holds for these members (sorted by timestamp)."""
    times = sorted({int(m["timestamp_ms"]) for m in members})
    ttls = [int(m["ttl"]) for m in members if m.get("ttl") is not None]
    first = times[0]
    return {
        "first": first,
        "last": times[-1],
        "ttl": max(ttls) if len(ttls) == len(members) else None,
        # Small sessions carry their timestamps (offsets from first, base 36): a
        # session_count bucket needs no read of their members.
        TIMES: ",".join(_base36(t - first) for t in times) if len(times) <= MAX_TIMES else None,
    }


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class SessionRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- settle ------------------------------------------------------------------------
    def settle(self, sessions: Iterable[tuple[str, str]]) -> None:
        for experiment_id, session_id in sessions:
            self.settle_one(experiment_id, session_id)

    def settle_one(self, experiment_id: str, session_id: str) -> None:
        """Make the head's first / last (and listing key) those of the session's members."""
        key = session_keys.head_key(experiment_id, session_id)
        for _ in range(_ATTEMPTS):
            head, members = None, []
            for item in self.gateway.query(Key("PK").eq(key["PK"]), consistent=True):
                if item["SK"] == session_keys.HEAD_SK:
                    head = item
                elif item["SK"].startswith(session_keys.MEMBER_PREFIX):
                    members.append(item)
            token = None if head is None else head.get(TOKEN)
            condition = Attr(TOKEN).not_exists() if token is None else Attr(TOKEN).eq(token)
            try:
                if not members:
                    if head is not None:
                        self.gateway.delete_item(key, condition=condition)
                    return
                desired = _desired(members)
                if (
                    head is not None
                    and head.get(SETTLED) == token
                    and all(head.get(k) == v for k, v in desired.items())
                ):
                    return
                self._write_head(key, experiment_id, session_id, desired, token, condition)
                return
            except ConditionFailed:
                continue  # a transaction touched the session meanwhile: read again
        raise Contention(f"session {session_id!r} of experiment {experiment_id}", _ATTEMPTS)

    def _write_head(self, key, experiment_id, session_id, desired, token, condition) -> None:
        fields: Item = {
            **{k: v for k, v in desired.items() if v is not None},
            **session_keys.by_last_keys(experiment_id, session_id, desired["last"]),
            "sid": session_id,
            "experiment_id": experiment_id,
            SETTLED: token or "",
        }
        if token is None:
            fields[TOKEN] = ""  # a head never touched (defensive): start one
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, removes = [], []
        for i, (attr, value) in enumerate(sorted(fields.items())):
            names[f"#a{i}"], values[f":a{i}"] = attr, value
            sets.append(f"#a{i} = :a{i}")
        for i, attr in enumerate(sorted(k for k, v in desired.items() if v is None)):
            names[f"#r{i}"] = attr
            removes.append(f"#r{i}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self.gateway.update_item(key, expression, names=names, values=values, condition=condition)

    def backfill(self, trace_id: str) -> bool:
        """Record a trace's membership from its stored stats item (traces counted before
        sessions existed have none), then settle its session: one transaction of a check
        that the stats item is still the one read, the member put and the head touch.
        False when the trace has no session (or no stats item)."""
        stats_key = analytics_keys.trace_stats_key(trace_id)
        for _ in range(_ATTEMPTS):
            stats = self.gateway.get_item(stats_key)
            m = membership(stats)
            if m is None:
                return False
            version = stats.get("version")
            check = Attr("version").not_exists() if version is None else Attr("version").eq(version)
            actions, touched = transaction_actions(self.gateway, [(None, m)])
            try:
                self.gateway.transact_write([self.gateway.tx_check(stats_key, check), *actions])
            except TransactionCancelled as exc:
                if not exc.is_condition_failure:
                    raise
                continue  # the trace was rewritten or deleted meanwhile: read it again
            self.settle(touched)
            return True
        raise Contention(f"trace {trace_id} session backfill", _ATTEMPTS)

    # ---- reads -------------------------------------------------------------------------
    def by_last(self, experiment_id: str, low_ms: int, high_ms: int) -> Iterator[SessionHead]:
        """The settled sessions whose last trace is in low..high (GSI4: one Query per
        (period, shard) per MB, side by side; eventually consistent)."""
        if low_ms > high_ms:
            return
        listing = indexes.SESSIONS_BY_LAST_TRACE
        lower = session_keys.by_last_sk_bound(low_ms)
        upper = session_keys.by_last_sk_bound(high_ms) + "$"
        reads = [
            (period, shard)
            for period in range(
                analytics_keys.stats_period(low_ms), analytics_keys.stats_period(high_ms) + 1
            )
            for shard in range(session_keys.SESSION_SHARDS)
        ]

        def read(args: tuple[int, int]) -> list[Item]:
            pk = session_keys.by_last_pk(experiment_id, *args)
            condition = listing.key_condition(pk, lower=lower, upper=upper)
            return list(self.gateway.query(condition, index=listing.index))

        for items in map_side_by_side(read, reads, batch_parallelism()):
            for item in items:
                yield _head(item)

    def member_times(
        self,
        experiment_id: str,
        session_id: str,
        low_ms: int,
        high_ms: int,
        *,
        limit: int | None = None,
    ) -> list[tuple[int, str]]:
        """(timestamp, trace id) of the session's traces in low..high, oldest first (base
        table: 1 Query per MB of members; ``limit`` stops early)."""
        pk = session_keys.session_pk(experiment_id, session_id)
        condition = Key("PK").eq(pk) & Key("SK").between(
            session_keys.member_sk_bound(low_ms), session_keys.member_sk_bound(high_ms) + "$"
        )
        out = []
        if limit is not None:
            items, _ = self.gateway.query_page(condition, limit=limit)
        else:
            items = self.gateway.query(condition)
        for item in items:
            out.append((int(item["timestamp_ms"]), str(item["trace_id"])))
        return out


def trace_session_keys(meta: Item) -> list[Item]:
    """The session items a trace (META or stats item) is part of: its member and its
    session's head (workspace moves and deletions go trace by trace, so they need no
    listing; a head deleted with its first trace is deleted again, harmlessly)."""
    m = membership(meta)
    if m is None:
        return []
    return [
        session_keys.member_key(m.experiment_id, m.session_id, m.timestamp_ms, m.trace_id),
        session_keys.head_key(*m.session),
    ]
