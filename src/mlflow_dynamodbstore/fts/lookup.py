"""Reading the index: which entities may match, and whether the index can be trusted.

``candidates`` reads the posting lists of the required trigrams, one trigram at a time
(all its shards; base-table Queries), word junctions and rarest-looking first, and
intersects them; once the candidates are few (``ENOUGH``) reading more posting lists
costs more than verifying the candidates, so it stops. A posting that carries its
entity's name (fts/postings.py ``CARRYING_FIELDS``) is checked against the caller's
``accepts`` (the filter's clauses on that name) at once: a name that does not match drops
the candidate, one that does is settled, so only the postings without a name (written
before names were carried, or of a name too long to carry) count towards ``ENOUGH``. The
caller batch-gets the candidates and verifies each with the exact predicate: the index
only narrows.

An index is only trusted for a field once it is complete: the table was created with
this version (the seed marks the always-on fields ready) or a backfill of the field
finished (``fts backfill``). Until then searches take the full-collection path. Ready is
cached for the process (it never goes back for an always-on field; an opt-in field's is
re-checked every ``RECHECK_SECONDS``, as switching it on or off unreadies it); not-ready is
re-checked every ``RECHECK_SECONDS``, so no search pays a read for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.config.settings import ALWAYS_TRIGRAM_FIELDS, SettingsSource
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.schema import fts_keys

# Stop reading posting lists once this few candidates remain. A list costs at least one
# Query per shard (0.5 read unit each, eventually consistent), a candidate 0.5 read unit
# (BatchGetItem of an item under 4 KB): stopping here, the candidates that do not match
# cost no more than the posting list already read, so a search stays within 2x (matches +
# postings). Stopping at 16 saved a list that could not narrow in one benchmark search but
# let non-matches cost 4x a list (docs/benchmarks.md).
ENOUGH = fts_keys.FTS_SHARDS
# Posting lists read at most per lookup: each costs a Query per shard, and the trigrams of
# one literal are correlated (neighbours share two characters), so a fourth list rarely
# removes as many candidates as it costs.
MAX_LISTS = 3
# A trigram listing more entities than this is not read whole: verifying that many
# candidates would cost about what the search's own walk does.
MAX_CANDIDATES = 1000
RECHECK_SECONDS = 60.0

# Most to least frequent in names (digits, English letters, separators): a trigram made of
# rarer characters usually has a shorter posting list. Digits come first: names carry dates,
# versions and counters ("2025", "v1", "-01"), so "202" or "025" is in nearly every name.
_COMMON = "0123456789eatoinsrlhcdmup-_ gbfywkv.xjqz"
_RANK = {c: i for i, c in enumerate(_COMMON)}


def is_junction(trigram: str) -> bool:
    """A separator between two word characters (``"r-b"`` of ``"ocr-bert"``): it joins two
    words, so it lists only the names where those two meet, a small part of either word's
    list (the product of two word frequencies, not the frequency of one)."""
    first, middle, last = trigram
    return first.isalnum() and last.isalnum() and not middle.isalnum()


def rarity_order(trigrams: Iterable[str]) -> list[str]:
    """Junctions of words first, then the rarest-looking; after the first, each next one is
    chosen among those sharing the fewest characters with the ones already chosen
    (neighbouring trigrams of a literal list nearly the same entities, distant ones narrow
    more)."""

    def score(trigram: str) -> int:
        # characters outside the list (other scripts, symbols) rank rarest
        return -sum(_RANK.get(c, len(_COMMON) * 2) for c in trigram)

    left = sorted(set(trigrams), key=lambda t: (score(t), t))
    chosen: list[str] = []
    seen: set[str] = set()
    while left:
        best = min(left, key=lambda t: (not is_junction(t), len(set(t) & seen), score(t), t))
        left.remove(best)
        chosen.append(best)
        seen |= set(best)
    return chosen


def posting_list(
    gateway: TableGateway, workspace: str, field: str, scope: str, trigram: str
) -> dict[str, str | None] | None:
    """The ids under one trigram (all shards), each with the text its posting carries (None:
    none), or None once it proves too common: more than ``MAX_CANDIDATES / FTS_SHARDS`` in
    one shard (the hash spreads ids evenly), so a common trigram costs a bounded read, never
    the whole list."""
    per_shard = MAX_CANDIDATES // fts_keys.FTS_SHARDS
    listed: dict[str, str | None] = {}
    for shard in range(fts_keys.FTS_SHARDS):
        pk = fts_keys.posting_pk(workspace, field, scope, trigram, shard)
        in_shard, start_key = 0, None
        while True:
            items, start_key = gateway.query_page(
                Key("PK").eq(pk), limit=per_shard + 1 - in_shard, start_key=start_key
            )
            in_shard += len(items)
            listed.update((item["SK"], item.get(fts_keys.CARRIED_TEXT)) for item in items)
            if in_shard > per_shard:
                return None
            if not start_key:
                break
    return listed


def overflow_list(gateway: TableGateway, workspace: str, field: str, scope: str) -> set[str] | None:
    """The ids on a bounded field's overflow list (texts longer than what is indexed), or
    None when it lists more than ``MAX_CANDIDATES`` (the search takes its usual path)."""
    pk = fts_keys.overflow_pk(workspace, field, scope)
    items, start_key = gateway.query_page(Key("PK").eq(pk), limit=MAX_CANDIDATES + 1)
    if start_key is not None or len(items) > MAX_CANDIDATES:
        return None
    return {item["SK"] for item in items}


def candidates(
    gateway: TableGateway,
    workspace: str,
    field: str,
    scope: str,
    required: set[str],
    accepts: Callable[[str], bool] | None = None,
) -> set[str] | None:
    """Ids of the entities of ``scope`` whose ``field`` holds every trigram of
    ``required`` and, where a posting carries the text, whose text ``accepts`` (a superset
    of the matches when it stops early or skips a too-common trigram); None when every
    trigram is too common for the index to pay (the search takes its usual path)."""
    # id -> settled: its posting carried a text that ``accepts`` (reading more lists cannot
    # drop it; the caller reads it anyway)
    found: dict[str, bool] | None = None
    for read, trigram in enumerate(rarity_order(required), start=1):
        listed = posting_list(gateway, workspace, field, scope, trigram)
        if listed is not None:
            kept = _checked(listed, accepts)
            found = kept if found is None else {i: found[i] or kept[i] for i in found.keys() & kept}
            if sum(1 for settled in found.values() if not settled) <= ENOUGH:
                break
        if read == MAX_LISTS and found is not None:
            break
    return None if found is None else set(found)


def _checked(
    listed: dict[str, str | None], accepts: Callable[[str], bool] | None
) -> dict[str, bool]:
    """The listed ids that may match (id -> settled): a carried text is checked at once."""
    if accepts is None:
        return dict.fromkeys(listed, False)
    kept: dict[str, bool] = {}
    for entity_id, text in listed.items():
        if text is None:
            kept[entity_id] = False
        elif accepts(text):
            kept[entity_id] = True
    return kept


class Readiness:
    """Whether each field's postings are complete, cached as described above."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[tuple[str, str], bool] = {}
        self._checked: dict[tuple[str, str], float] = {}

    def is_ready(self, gateway: TableGateway, field: str) -> bool:
        cache_key = (_table_of(gateway), field)
        with self._lock:
            checked = self._checked.get(cache_key)
            fresh = checked is not None and time.monotonic() - checked < RECHECK_SECONDS
            # an always-on field never goes back; an opt-in one does when switched on or off
            if self._ready.get(cache_key) and (field in ALWAYS_TRIGRAM_FIELDS or fresh):
                return True
            if fresh:
                return False
        item = gateway.get_item(fts_keys.ready_key(field))
        ready = bool(item and item.get("complete"))
        self._remember(_table_of(gateway), field, ready)
        return ready

    def _remember(self, table: str, field: str, ready: bool) -> None:
        with self._lock:
            self._ready[(table, field)] = ready
            self._checked[(table, field)] = time.monotonic()

    def mark(self, gateway: TableGateway, field: str, ready: bool) -> None:
        """Record the field's state in the table (and in this process's cache)."""
        if ready:
            gateway.put_item({**fts_keys.ready_key(field), "complete": True})
        else:
            gateway.delete_item(fts_keys.ready_key(field))
        self._remember(_table_of(gateway), field, ready)

    def mark_ready_unless_switched(
        self, gateway: TableGateway, field: str, changed_at: object | None
    ) -> bool:
        """Mark an opt-in field ready, unless it was switched on or off again since its
        marker said ``changed_at`` (None: the marker recorded no switch then); False when
        it was (the marker stays unready)."""
        unchanged = (
            Attr("changed_at").not_exists()
            if changed_at is None
            else Attr("changed_at").eq(changed_at)
        )
        try:
            gateway.put_item({**fts_keys.ready_key(field), "complete": True}, condition=unchanged)
        except ConditionFailed:
            self._remember(_table_of(gateway), field, False)
            return False
        self._remember(_table_of(gateway), field, True)
        return True

    def forget(self) -> None:
        with self._lock:
            self._ready.clear()
            self._checked.clear()


def _table_of(gateway: TableGateway) -> str:
    """The table's identity in this process: endpoint and name."""
    endpoint = getattr(getattr(gateway.client, "meta", None), "endpoint_url", "")
    return f"{endpoint}/{gateway.table_name}"


READINESS = Readiness()


def mark_new_table_ready(gateway: TableGateway) -> None:
    """A table created with this version has postings for every entity from the start."""
    for field in ALWAYS_TRIGRAM_FIELDS:
        gateway.put_item({**fts_keys.ready_key(field), "complete": True})


class TrigramIndex:
    """What a search asks of the index. ``gateway`` is the store's (workspace-scoped)
    gateway; ``settings`` the connection's settings source."""

    def __init__(self, gateway: TableGateway, settings: SettingsSource):
        self.gateway = gateway
        self.settings = settings

    def usable(self, field: str) -> bool:
        # always-on fields are in every server's settings (a stored settings item of an
        # older version may lack a field made always-on since)
        configured = self.settings.current().fts_trigram_fields
        if field not in ALWAYS_TRIGRAM_FIELDS and field not in configured:
            return False
        unscoped = getattr(self.gateway, "unscoped", self.gateway)
        return READINESS.is_ready(unscoped, field)

    def candidates(
        self,
        workspace: str,
        field: str,
        scope: str,
        required: set[str],
        accepts: Callable[[str], bool] | None = None,
    ) -> set[str] | None:
        """See ``candidates``; ``accepts`` checks a text a posting carries (the filter's
        clauses on the field)."""
        return candidates(self.gateway, workspace, field, scope, required, accepts)

    def bounded_candidates(
        self, workspace: str, field: str, scope: str, required: set[str]
    ) -> set[str] | None:
        """``candidates`` of a field indexed with a trigram cap: the posting lists' ids plus
        the overflow list's (their texts may hold the pattern past the cap)."""
        found = candidates(self.gateway, workspace, field, scope, required)
        if found is None:
            return None
        overflowed = overflow_list(self.gateway, workspace, field, scope)
        return None if overflowed is None else found | overflowed
