"""Trace sessions: per (experiment, session id) a head with the first and last trace
timestamp, listed by its last trace, and a member item per trace (docs/trace-analytics.md,
"Sessions"; keys in schema/session_keys.py).

Write path, in two steps:

1. **In the trace's stats transaction** (``rollups.py``): the member of the trace's old
   (session, timestamp) is deleted, the new one put, and each head touched: ``tok`` set to a
   fresh random token; a head gaining a member also gets that member's ttl added to its
   pending set ``pt`` (0 for none) and, when the head is new, ``first`` / ``last`` / its
   listing key at the member's timestamp (``if_not_exists``: no condition, so the stats
   transaction never fails on a head). Member writes are idempotent (keyed by trace and
   timestamp) and the stats transaction is conditioned on the stored stats item, so members
   always mirror the stats items: one member per trace with a session id.
2. **Settle** (right after the transaction, or by a reader that meets a head unsettled):
   read the head and the session's first MAX_TIMES + 1 members (one strongly consistent
   Query: the head sorts before the members, which sort by timestamp); a longer session
   adds one ``Limit=1`` Query of its last member. Write them to the head with its listing
   key, conditioned on ``tok`` being the token read. A transaction that touched the session
   meanwhile changed ``tok``, so a settle computed from an older member set never lands; the
   loop re-reads. An empty session's head is deleted (conditioned the same way); tokens are
   random, so a head recreated later never matches a stale settle.

The head's ``ttl`` (so it expires with its members): exact for a session read whole (at most
MAX_TIMES members: the latest member ttl, none if a member has none); for a longer one the
previous ttl raised to the pending members' ttls (none once a member without one came): an
upper bound, never earlier than a member's (docs/trace-analytics.md, "Limits"). A head that
no settle of this format wrote (``sv`` missing: settled by the first release, or recreated)
of a long session is read whole once.

Cost per write of a trace with a session: 1 member put (+ 1 delete when the session or
timestamp changed) and 1 head update inside the existing transaction, then 1 Query (+ 1
one-item Query past MAX_TIMES members) and, when something moved, 1 UpdateItem: the same
whatever the session's length.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.errors import ConditionFailed, Contention, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.schema import analytics_keys, indexes, session_keys

Item = dict[str, Any]
TOKEN = "tok"
SETTLED = "stok"  # the token the head's first/last were computed at
TIMES = "ts"
PENDING = "pt"  # ttls of members added since the last settle (number set; 0: no ttl)
FORMAT = "sv"  # present once a settle of this format wrote the head (its ttl is a bound)
FORMAT_VERSION = 2
MAX_TIMES = 64  # a session of at most this many members is read whole by its settle
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


def _touch(gateway: TableGateway, m: Membership, added: Membership | None) -> dict:
    """The head's update in a transaction: a fresh token; with a member ``added``, its ttl
    into the pending set and, on a new head, first / last / listing key at its timestamp
    (so a crash before the settle leaves the head listed where readers settle it)."""
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
    adds = []
    if added is not None:
        names["#p"], values[":p"] = PENDING, {added.ttl or 0}
        adds.append("#p :p")
        fields = {
            "first": added.timestamp_ms,
            "last": added.timestamp_ms,
            **session_keys.by_last_keys(added.experiment_id, added.session_id, added.timestamp_ms),
        }
        for i, (attr, value) in enumerate(sorted(fields.items())):
            names[f"#h{i}"], values[f":h{i}"] = attr, value
            sets.append(f"#h{i} = if_not_exists(#h{i}, :h{i})")
    expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
    return gateway.tx_update(
        session_keys.head_key(*m.session), expression, names=names, values=values
    )


def transaction_actions(
    gateway: TableGateway, changes: Iterable[tuple[Membership | None, Membership | None]]
) -> tuple[list[dict], set[tuple[str, str]]]:
    """The member and head writes of (old, new) memberships for one transaction (each head
    touched once), and the sessions to settle after it."""
    actions: list[dict] = []
    heads: dict[tuple[str, str], Membership] = {}
    added: dict[tuple[str, str], Membership] = {}
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
            heads[new.session] = added[new.session] = new
    actions += [_touch(gateway, m, added.get(session)) for session, m in heads.items()]
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
    """What a settled head holds for a whole member set (sorted by timestamp): exact."""
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
        PENDING: None,
        FORMAT: FORMAT_VERSION,
    }


def _desired_long(head: Item, first: Item, last: Item) -> Item:
    """What a settled head of a long session holds, from its first and last member and
    its previous state: ttl only grows (to the pending members' ttls), and is gone once a
    member without one came; no timestamps."""
    pending = {int(t) for t in head.get(PENDING) or ()}
    ttl = head.get("ttl")
    ttl = max([int(ttl), *pending]) if ttl is not None and 0 not in pending else None
    return {
        "first": int(first["timestamp_ms"]),
        "last": int(last["timestamp_ms"]),
        "ttl": ttl,
        TIMES: None,
        PENDING: None,
        FORMAT: FORMAT_VERSION,
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

    def settle_one(self, experiment_id: str, session_id: str) -> SessionHead | None:
        """Make the head's first / last (and listing key) those of the session's members;
        the head as settled (None: the session has no members). Reads are bounded: 1 Query
        of the head and up to MAX_TIMES + 1 members, + 1 one-item Query for a longer
        session (+ its whole partition once, for a head no settle of this format wrote)."""
        key = session_keys.head_key(experiment_id, session_id)
        pk = Key("PK").eq(key["PK"])
        for _ in range(_ATTEMPTS):
            # The head sorts before the members: it is read first, so a transaction landing
            # during the reads changed the token this settle is conditioned on.
            page, more = self.gateway.query_page(pk, limit=MAX_TIMES + 2, consistent=True)
            head = page[0] if page and page[0]["SK"] == session_keys.HEAD_SK else None
            members = [i for i in page if i["SK"].startswith(session_keys.MEMBER_PREFIX)]
            token = None if head is None else head.get(TOKEN)
            condition = Attr(TOKEN).not_exists() if token is None else Attr(TOKEN).eq(token)
            try:
                if not members:
                    if head is not None:
                        self.gateway.delete_item(key, condition=condition)
                    return None
                if more is not None and (head is None or head.get(FORMAT) != FORMAT_VERSION):
                    members += self.gateway.query(pk, start_key=more, consistent=True)
                    more = None  # read whole, once: its ttl from every member
                if more is None:
                    desired = _desired(members)
                elif (last := self._last_member(pk)) is None:
                    continue  # emptied since the first read: read again
                else:
                    desired = _desired_long(head, members[0], last)
                if (
                    head is not None
                    and head.get(SETTLED) == token
                    and all(head.get(k) == v for k, v in desired.items())
                ):
                    return _head(head)
                self._write_head(key, experiment_id, session_id, desired, token, condition)
                return _head({**desired, "sid": session_id, "experiment_id": experiment_id})
            except ConditionFailed:
                continue  # a transaction touched the session meanwhile: read again
        raise Contention(f"session {session_id!r} of experiment {experiment_id}", _ATTEMPTS)

    def _last_member(self, pk: ConditionBase) -> Item | None:
        condition = pk & Key("SK").begins_with(session_keys.MEMBER_PREFIX)
        items, _ = self.gateway.query_page(condition, forward=False, limit=1, consistent=True)
        return items[0] if items else None

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
        """The sessions listed with their last trace in low..high (GSI4: one Query per
        (period, shard) per MB, side by side; eventually consistent). A head met unsettled
        (its writer died before settling, or is settling right now) is settled first and
        given as settled (its first / last may then lie outside low..high; callers check)."""
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

        seen: set[str] = set()  # a head settled here may be listed again further on
        for items in map_side_by_side(read, reads, batch_parallelism()):
            for item in items:
                head = self._settled(item)
                if head is not None and head.session_id not in seen:
                    seen.add(head.session_id)
                    yield head

    def _settled(self, item: Item) -> SessionHead | None:
        if item.get(TOKEN) == item.get(SETTLED):
            return _head(item)
        try:
            return self.settle_one(str(item["experiment_id"]), str(item["sid"]))
        except Contention:
            return _head(item)  # a busy session: its writers settle it

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
