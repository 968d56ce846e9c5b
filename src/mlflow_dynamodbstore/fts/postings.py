"""Posting items: what an entity's indexed text puts into the index, and what a change of
that text moves.

Writers call these from the repositories, inside the write of the entity: a create puts
the name's postings in the entity's own transaction, a rename deletes the trigrams only
the old name had and puts those only the new one has, a hard delete removes them all.
Postings carry no ``workspace`` attribute: their key holds the workspace already (like a
name guard), so a workspace-scoped gateway passes them through.

Postings of experiment and registered model names also carry the name itself
(``CARRYING_FIELDS``; at most ``CARRIED_TEXT_BYTES``), so a search checks each candidate
against its pattern from the posting and reads only those that match (fts/lookup.py). The
invariant a search relies on: a posting under a trigram of the entity's current name carries
that name or nothing. Hence a carried name is written only inside the transaction that sets
the name (a put outside it, a backfill, a workspace move, writes the bare key), and a rename
rewrites every posting of the new name, not only the trigrams that changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.fts.trigrams import bounded_trigrams, trigrams
from mlflow_dynamodbstore.gateway.errors import TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.schema import fts_keys

Item = dict[str, Any]

# The fields written and searched today, always on (config/settings.py ALWAYS_TRIGRAM_FIELDS).
EXPERIMENT_NAME = "experiment_name"
RUN_NAME = "run_name"
MODEL_NAME = "model_name"
LOGGED_MODEL_NAME = "logged_model_name"
TRACE_NAME = "trace_name"

# Fields whose postings carry their text: names that narrow poorly by trigrams alone (dates,
# versions and shared words make many candidates) and change rarely (a rename rewrites all
# the postings). Run names narrow well (word junctions) and change through many paths.
CARRYING_FIELDS = frozenset({EXPERIMENT_NAME, MODEL_NAME})
# A longer name's postings carry nothing (its candidates are read): keeps posting lists,
# which a search reads up to 1,000 entries of, cheap to read (names are up to 500 bytes).
CARRIED_TEXT_BYTES = 128


def carries(field_name: str, text: str | None) -> bool:
    """Whether postings of ``text`` in ``field_name`` carry it."""
    return (
        field_name in CARRYING_FIELDS
        and text is not None
        and len(text.encode("utf-8")) <= CARRIED_TEXT_BYTES
    )


def bare(posting: Item) -> Item:
    """A posting without its carried text (for writes outside the name's own transaction)."""
    return {k: v for k, v in posting.items() if k != fts_keys.CARRIED_TEXT}


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

    def carrying_keys(self, text: str | None) -> list[Item]:
        """``keys`` with the text itself on each, when this field carries it (``carries``):
        for the transaction that sets the text, and nothing else."""
        if not carries(self.field, text):
            return self.keys(text)
        return [{**key, fts_keys.CARRIED_TEXT: text} for key in self.keys(text)]

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
    """Trigrams only ``old`` had go, trigrams only ``new`` has come; shared ones stay, unless
    a posting carries the name (old or new): then every posting of ``new`` is rewritten, as
    a shared trigram's posting would otherwise keep carrying ``old``."""
    before, after = trigrams(old), trigrams(new)
    deletes = [document.key_of(t) for t in sorted(before - after)]
    if carries(document.field, old) or carries(document.field, new):
        return PostingChange(puts=document.carrying_keys(new), deletes=deletes)
    return PostingChange(puts=[document.key_of(t) for t in sorted(after - before)], deletes=deletes)


def created(document: Document, text: str | None) -> PostingChange:
    return PostingChange(puts=document.carrying_keys(text))


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
        # outside the transaction a carried name may never be set: bare keys only
        [bare(p) for p in change.puts[len(inside_puts) :]],
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


def write_carrying(gateway, entity_key: Item, document: Document, text: str) -> bool:
    """Postings of ``text`` carrying it, for a job that read ``text`` from a listing (the
    backfill): one transaction conditioned on the entity still being named ``text``, since
    the listing may lag and a rename meanwhile has written its own postings. False when the
    name differs (nothing carrying it was written; puts past the transaction's room go
    before it, bare, as ever)."""
    try:
        transact_with_postings(
            gateway,
            [gateway.tx_check(entity_key, Attr("name").eq(text))],
            PostingChange(puts=document.carrying_keys(text)),
        )
    except TransactionCancelled as exc:
        if exc.is_condition_failure:
            return False
        raise
    return True
