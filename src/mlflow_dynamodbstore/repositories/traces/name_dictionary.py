"""The trace-name dictionary: each distinct (experiment, trace name) indexed once.

A trace search by name (``name LIKE '%chat%'``) reads the trigram postings of the
experiment's *distinct names* (a few dozen, typically: ``predict``, ``ChatModel.invoke``),
keeps the names that match exactly, then reads each name's traces from the name listing
(GSI1, keys on every named META: schema/trace_name_keys.py). So the postings are written
once per name, not per trace.

``ensure`` runs before every META write that gives a trace a name its experiment may not
have had yet (a new named trace, a rename, ``log_spans`` naming a trace). The first time:
the name's postings (idempotent puts; at most ``NAME_CAP`` trigrams, a longer name also goes
on the experiment's overflow list), *then* the dictionary entry, conditioned on not
existing. The entry's existence therefore means "postings complete": a crash between the
two leaves postings the search drops (it reads the entry for the name) and the next trace of
the name writes them again. META is written only after ``ensure`` returned, so every named
trace's name is searchable; a crash after ``ensure`` and before META leaves an entry whose
listing is empty (a stale entry: a search matching it reads one empty listing page).

Later writes of a known name cost nothing: the process remembers the entries it has seen
(they are never deleted while their experiment lives, so the memory is never wrong); a
process that has not seen one reads it once (GetItem, eventually consistent: a stale
"missing" only repeats idempotent writes).

Entries are not removed when their traces go (deleted, renamed, expired): they are few,
and a stale one costs a search only its listing Query when the pattern matches it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.fts.trigrams import bounded_trigrams
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.schema import trace_name_keys

Item = dict[str, Any]

# 200 distinct trigrams: names up to ~200 characters are indexed whole, the worst name
# (4,096 characters) costs 200 posting writes once per experiment, and a longer name is
# still found through the experiment's overflow list (every indexed search reads it).
NAME_CAP = 200
# Entries remembered per process (about 150 bytes each).
_REMEMBERED = 100_000


class _Seen:
    """The (table, experiment, digest) entries known to exist, least recently used out."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._size = size

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
            return False

    def add(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._entries[key] = None
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


SEEN = _Seen(_REMEMBERED)


def _table_of(gateway: TableGateway) -> str:
    unscoped = getattr(gateway, "unscoped", gateway)
    endpoint = getattr(getattr(unscoped.client, "meta", None), "endpoint_url", "")
    return f"{endpoint}/{unscoped.table_name}"


def posting_items(experiment_id: str, name: str) -> list[Item]:
    """The postings of one distinct name (its overflow entry included)."""
    digest = trace_name_keys.name_digest(name)
    found, overflowed = bounded_trigrams(name, NAME_CAP)
    items = [trace_name_keys.posting_key(experiment_id, t, digest) for t in sorted(found)]
    if overflowed:
        items.append(trace_name_keys.overflow_key(experiment_id, digest))
    return items


def entry_item(experiment_id: str, name: str) -> Item:
    digest = trace_name_keys.name_digest(name)
    return {
        **trace_name_keys.dictionary_key(experiment_id, digest),
        "experiment_id": str(experiment_id),
        "name": name,
    }


class NameDictionary:
    """``gateway``: any gateway (the entries carry no workspace: see schema/trace_name_keys)."""

    def __init__(self, gateway: TableGateway):
        self.gateway = getattr(gateway, "unscoped", gateway)

    def ensure(self, experiment_id: str, name: str) -> int:
        """Make sure the name is in the experiment's dictionary; the items written (0 when
        it already was: the usual case)."""
        experiment_id = str(experiment_id)
        digest = trace_name_keys.name_digest(name)
        remembered = (_table_of(self.gateway), experiment_id, digest)
        if remembered in SEEN:
            return 0
        key = trace_name_keys.dictionary_key(experiment_id, digest)
        if self.gateway.get_item(key, consistent=False) is not None:
            SEEN.add(remembered)
            return 0
        written = self.write(experiment_id, name)
        SEEN.add(remembered)
        return written

    def write(self, experiment_id: str, name: str) -> int:
        """Postings first, then the entry (see the module's docstring); idempotent."""
        items = posting_items(experiment_id, name)
        self.gateway.batch_write(puts=items)
        try:
            self.gateway.put_item(
                entry_item(experiment_id, name), condition=Attr("PK").not_exists()
            )
        except ConditionFailed:
            return len(items)  # another writer finished it first: same postings
        return len(items) + 1

    def entries(self, experiment_id: str, digests: set[str]) -> list[Item]:
        """The dictionary entries of these digests (1 BatchGetItem per 100)."""
        keys = [trace_name_keys.dictionary_key(experiment_id, d) for d in digests]
        return self.gateway.batch_get(keys)

    def all_entries(self, experiment_id: str) -> list[Item]:
        """Every entry of the experiment (1 Query per shard and MB)."""
        return [
            item
            for pk in trace_name_keys.dictionary_pks(experiment_id)
            for item in self.gateway.query(Key("PK").eq(pk))
        ]

    def delete_experiment(self, experiment_id: str) -> int:
        """Delete an experiment's dictionary and postings (its purge); the items deleted."""
        doomed: list[Item] = []
        for entry in self.all_entries(experiment_id):
            doomed.append({"PK": entry["PK"], "SK": entry["SK"]})
            doomed.extend(posting_items(experiment_id, entry["name"]))
        self.gateway.batch_write(deletes=doomed)
        return len(doomed)
