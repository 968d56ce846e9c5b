"""Records too big for one item: the compressed body cut into part items.

A record's head item (``R#<record id>``, the one LSI3 lists) keeps its compressed body
(``body``) when head and body fit in one item, as nearly every record does. A bigger body,
up to ``MAX_RECORD_BYTES`` compressed, goes whole into part items
``RP#<record id>#<generation>#<nnnn>`` of ``PART_BYTES`` each, in the dataset's partition;
the head then holds no body but ``gen`` (drawn per write of the record) and ``parts`` (how
many). Parts carry no LSI3 key, so the record order lists heads only, and a page reads the
parts of the big records on it and of no others.

Ordering, so that no reader sees half a record:

- a write puts the new generation's parts first, then the head in the record transaction
  (conditioned as any record write); only a committed head names a generation;
- a write that lost its race deletes the parts it wrote (nothing names them); a committed
  rewrite or delete frees the replaced generation's parts, deleted after the transaction;
- a reader fetches the parts its head names (consistent BatchGetItem). If one is gone, a
  writer replaced or deleted the record meanwhile: the reader reads the head again and
  takes the record's new version (or none, if it was deleted).

A crash between those steps can only leave parts that no head names: never read, removed
with the dataset.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlflow_dynamodbstore.gateway.errors import Contention
from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES
from mlflow_dynamodbstore.gateway.optimistic import DEFAULT_ATTEMPTS
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway
from mlflow_dynamodbstore.schema import dataset_keys
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE

Item = dict[str, Any]

# The largest record, compressed: 10 MB (MiB). Beyond it an upsert is refused with
# INVALID_PARAMETER_VALUE; such a record would be a file, not an evaluation example.
MAX_RECORD_BYTES = 10 * 1024 * 1024
# Compressed bytes per part item: with its keys and workspace far below 400 KB.
PART_BYTES = 384 * 1024
# Room kept free in a head holding its body (attribute names, type bytes, rounding).
_HEAD_SLACK = 2 * 1024


def approximate_size(item: Item) -> int:
    """An item's size as DynamoDB counts it, rounded up (names + values; numbers at most
    21 bytes)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode()) + _value_size(value)
    return total


def _value_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + 1 + _value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + _value_size(v) for v in value)
    return 21


def fits_inline(head: Item, body: bytes) -> bool:
    """Whether the head item can hold the body itself."""
    return approximate_size(head) + len("body") + len(body) + _HEAD_SLACK <= MAX_ITEM_BYTES


def head_fits(head: Item) -> bool:
    """Whether a head without a body fits in one item (its plain columns are user strings)."""
    return approximate_size(head) + 64 + _HEAD_SLACK <= MAX_ITEM_BYTES


def new_generation() -> str:
    # 64 random bits: two writers of one record never draw the same parts' keys.
    return uuid.uuid4().hex[:16]


def part_items(head: Item, body: bytes, generation: str) -> list[Item]:
    """The part items of ``body``; ``head`` gains ``gen`` and ``parts`` naming them."""
    pieces = [body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES)]
    head["gen"] = generation
    head["parts"] = len(pieces)
    dataset_id, record_id = head["dataset_id"], head["dataset_record_id"]
    return [
        {
            **dataset_keys.dataset_record_part_key(dataset_id, record_id, generation, i),
            WORKSPACE_ATTRIBUTE: head[WORKSPACE_ATTRIBUTE],
            "z": piece,
        }
        for i, piece in enumerate(pieces)
    ]


def is_chunked(head: Item | None) -> bool:
    return head is not None and "gen" in head


def part_keys(head: Item | None) -> list[Item]:
    """The keys of the parts a head names (none for a head holding its body)."""
    if not is_chunked(head):
        return []
    return [
        dataset_keys.dataset_record_part_key(
            head["dataset_id"], head["dataset_record_id"], head["gen"], i
        )
        for i in range(int(head["parts"]))
    ]


def item_keys(items: list[Item]) -> list[Item]:
    return [{"PK": i["PK"], "SK": i["SK"]} for i in items]


def load(gateway: ScopedGateway, heads: list[Item]) -> dict[int, tuple[Item, bytes]]:
    """The compressed body of each head, by the head's position in ``heads``: inline, or
    joined from its parts (1 consistent BatchGetItem per 100 parts). A head whose parts are
    gone was replaced or deleted meanwhile: it is read again and its current version taken
    (the tuple then holds that head); a record deleted meanwhile is left out."""
    bodies: dict[int, tuple[Item, bytes]] = {}
    pending = list(enumerate(heads))
    for _attempt in range(DEFAULT_ATTEMPTS):
        chunked = []
        for position, head in pending:
            if is_chunked(head):
                chunked.append((position, head))
            else:
                bodies[position] = (head, bytes(head["body"]))
        if not chunked:
            return bodies
        wanted = [k for _, head in chunked for k in part_keys(head)]
        found = {i["SK"]: i for i in gateway.batch_get(wanted, consistent=True)}
        stale = []
        for position, head in chunked:
            pieces = [found.get(k["SK"]) for k in part_keys(head)]
            if all(p is not None for p in pieces):
                bodies[position] = (head, b"".join(bytes(p["z"]) for p in pieces))
            else:
                stale.append((position, head))
        if not stale:
            return bodies
        fresh = {
            i["SK"]: i for i in gateway.batch_get(item_keys([h for _, h in stale]), consistent=True)
        }
        pending = [(position, fresh[h["SK"]]) for position, h in stale if h["SK"] in fresh]
    raise Contention("reading dataset records being rewritten", DEFAULT_ATTEMPTS)
