"""Posting items: what an entity's indexed text puts into the index, and what a change of
that text moves.

Writers call these from the repositories, inside the write of the entity: a create puts
the name's postings in the entity's own transaction, a rename deletes the trigrams only
the old name had and puts those only the new one has, a hard delete removes them all.
Postings carry no ``workspace`` attribute: their key holds the workspace already (like a
name guard), so a workspace-scoped gateway passes them through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_dynamodbstore.fts.trigrams import bounded_trigrams, trigrams
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.schema import fts_keys

Item = dict[str, Any]

# The fields written and searched today, always on (config/settings.py ALWAYS_TRIGRAM_FIELDS).
EXPERIMENT_NAME = "experiment_name"
RUN_NAME = "run_name"
MODEL_NAME = "model_name"
LOGGED_MODEL_NAME = "logged_model_name"
TRACE_NAME = "trace_name"


@dataclass(frozen=True)
class Document:
    """One indexed text: ``entity_id``'s ``field`` within ``scope`` of ``workspace``."""

    workspace: str
    field: str
    scope: str
    entity_id: str

    def key_of(self, trigram: str) -> Item:
        return fts_keys.posting_key(self.workspace, self.field, self.scope, trigram, self.entity_id)

    def keys(self, text: str | None) -> list[Item]:
        return [self.key_of(t) for t in sorted(trigrams(text))]

    def overflow_key(self) -> Item:
        return fts_keys.overflow_key(self.workspace, self.field, self.scope, self.entity_id)

    def bounded_keys(self, text: str | None, cap: int) -> list[Item]:
        """Postings of at most ``cap`` distinct trigrams; a longer text also goes on the
        overflow list, so a search still takes it as a candidate (see ``bounded_trigrams``)."""
        found, overflowed = bounded_trigrams(text, cap)
        keys = [self.key_of(t) for t in sorted(found)]
        return [*keys, self.overflow_key()] if overflowed else keys


def diff(before: Sequence[Item], after: Sequence[Item], *, rewrite: bool = False) -> PostingChange:
    """From posting items ``before`` to ``after`` (items: keys plus attributes such as
    ``ttl``): keys only ``after`` has are put (all of ``after`` when ``rewrite``: its
    attributes changed), keys only ``before`` has are deleted."""
    old = {(i["PK"], i["SK"]) for i in before}
    new = {(i["PK"], i["SK"]) for i in after}
    return PostingChange(
        puts=[i for i in after if rewrite or (i["PK"], i["SK"]) not in old],
        deletes=[{"PK": i["PK"], "SK": i["SK"]} for i in before if (i["PK"], i["SK"]) not in new],
    )


@dataclass
class PostingChange:
    """Postings to put and to delete for one change of indexed text."""

    puts: list[Item] = field(default_factory=list)
    deletes: list[Item] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletes)

    def extend(self, other: PostingChange) -> None:
        self.puts.extend(other.puts)
        self.deletes.extend(other.deletes)


def moved(document: Document, old: str | None, new: str | None) -> PostingChange:
    """Trigrams only ``old`` had go, trigrams only ``new`` has come; shared ones stay."""
    before, after = trigrams(old), trigrams(new)
    return PostingChange(
        puts=[document.key_of(t) for t in sorted(after - before)],
        deletes=[document.key_of(t) for t in sorted(before - after)],
    )


def created(document: Document, text: str | None) -> PostingChange:
    return PostingChange(puts=document.keys(text))


def removed(document: Document, text: str | None) -> PostingChange:
    return PostingChange(deletes=document.keys(text))


@dataclass
class Packed:
    """A posting change split around one transaction of ``used`` actions: what fits goes
    inside it; puts that do not are written before it (a posting of an entity that does
    not exist yet is a candidate the search verifies away), deletes after it (a stale
    posting likewise)."""

    inside_puts: list[Item]
    inside_deletes: list[Item]
    before: list[Item]
    after: list[Item]


def pack(change: PostingChange, used: int) -> Packed:
    room = max(0, TRANSACTION_LIMIT - used)
    inside_puts = change.puts[:room]
    room -= len(inside_puts)
    inside_deletes = change.deletes[:room]
    return Packed(
        inside_puts,
        inside_deletes,
        change.puts[len(inside_puts) :],
        change.deletes[len(inside_deletes) :],
    )


def transact_with_postings(gateway, actions: Sequence[dict], change: PostingChange) -> None:
    """Write ``actions`` (one transaction) with the posting change: inside the same
    transaction as far as it fits, the overflow in batches around it."""
    packed = pack(change, len(actions))
    if packed.before:
        gateway.batch_write(puts=packed.before)
    gateway.transact_write(
        [
            *actions,
            *(gateway.tx_put(p) for p in packed.inside_puts),
            *(gateway.tx_delete(d) for d in packed.inside_deletes),
        ]
    )
    if packed.after:
        gateway.batch_write(deletes=packed.after)
