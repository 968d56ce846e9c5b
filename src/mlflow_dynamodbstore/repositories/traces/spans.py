"""Spans: one head item per span in its trace's partition, plus chunk items for big ones.

A span is stored as MLflow's SQL store stores it: the JSON of
``translate_span_when_storing(span)`` (``spans.content``), here zlib-compressed. Content up
to ``CHUNK_BYTES`` compressed bytes lives in the head item; bigger content is cut into
chunks of that size in ``SPANC#<span id>#<generation>#<n>`` items, so no item comes near
DynamoDB's 400 KB limit however large a span's inputs/outputs are. Reading joins the chunks
and decompresses: the JSON text comes back byte for byte.

The generation is a digest of the stored bytes: a span re-logged with other content gets
other chunk keys (a reader never joins a head with another version's chunks), and a retry of
the same content writes the same keys again (a failed write's chunks are overwritten, not
left behind).
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import keys

# Compressed bytes per item: far below 400 KB, leaving room for the head's other attributes.
CHUNK_BYTES = 300_000


@dataclass(frozen=True)
class SpanRow:
    """The columns of a stored span (as the SQL store's ``spans`` table has them)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str | None
    span_type: str | None
    status: str | None
    start_time_ns: int
    end_time_ns: int | None
    content: str
    # The span's usage/cost attribute values (JSON text), so token usage and cost can be
    # re-aggregated over a trace without decompressing every span.
    usage: str | None = None
    cost: str | None = None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class SpanRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def items_for(self, row: SpanRow, ttl: int | None = None) -> list[dict[str, Any]]:
        """The head item (and chunk items) storing one span."""
        data = zlib.compress(row.content.encode("utf-8"), 6)
        pieces = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        generation = hashlib.blake2b(data, digest_size=8).hexdigest()
        head: dict[str, Any] = {
            **keys.span_key(row.trace_id, row.span_id),
            "trace_id": row.trace_id,
            "span_id": row.span_id,
            "parent_span_id": row.parent_span_id,
            "name": row.name,
            "span_type": row.span_type,
            "status": row.status,
            "start_time_ns": row.start_time_ns,
            "end_time_ns": row.end_time_ns,
            "usage": row.usage,
            "cost": row.cost,
            "z": pieces[0],
            "chunks": len(pieces),
            "gen": generation,
        }
        extra = [
            {**keys.span_chunk_key(row.trace_id, row.span_id, generation, i), "z": piece}
            for i, piece in enumerate(pieces[1:], start=1)
        ]
        items = [{k: v for k, v in head.items() if v is not None}, *extra]
        if ttl is not None:
            for item in items:
                item["ttl"] = ttl
        return items

    def write(self, rows: Iterable[SpanRow], ttl_by_trace: dict[str, int | None]) -> None:
        """Upsert spans (BatchWriteItem, 25 items per request). Chunks go first so a reader
        never sees a head whose chunks are missing."""
        heads, chunks = [], []
        for row in rows:
            head, *extra = self.items_for(row, ttl_by_trace.get(row.trace_id))
            heads.append(head)
            chunks.extend(extra)
        if chunks:
            self.gateway.batch_write(puts=chunks)
        if heads:
            self.gateway.batch_write(puts=heads)

    def read_items(self, trace_id: str) -> list[dict[str, Any]]:
        """The span head and chunk items of a trace (one Query per MB of stored spans)."""
        return list(
            self.gateway.query(
                Key("PK").eq(keys.trace_pk(trace_id)) & Key("SK").begins_with("SPAN")
            )
        )

    def delete_items(self, trace_id: str) -> None:
        """Delete every span head and chunk item of a trace (a writer whose trace was
        deleted after it wrote them takes them back out)."""
        found = self.gateway.query(
            Key("PK").eq(keys.trace_pk(trace_id)) & Key("SK").begins_with("SPAN"), consistent=True
        )
        self.gateway.batch_write(deletes=[{"PK": i["PK"], "SK": i["SK"]} for i in found])

    def read(self, trace_id: str, *, with_content: bool = True) -> list[SpanRow]:
        """Every span of a trace."""
        return rows_from_items(self.read_items(trace_id), with_content=with_content)


def rows_from_items(items: Iterable[dict[str, Any]], *, with_content: bool = True) -> list[SpanRow]:
    """Join head and chunk items back into span rows (items of other families are skipped)."""
    heads: list[dict[str, Any]] = []
    chunks: dict[str, dict[int, bytes]] = defaultdict(dict)
    for item in items:
        sk: str = item["SK"]
        if sk.startswith(keys.TRACE_SPAN_CHUNK_PREFIX):
            span_and_gen, _, index = sk[len(keys.TRACE_SPAN_CHUNK_PREFIX) :].rpartition(keys.SEP)
            chunks[span_and_gen][int(index)] = bytes(item["z"])
        elif sk.startswith(keys.TRACE_SPAN_PREFIX):
            heads.append(item)
    rows = []
    for head in heads:
        content = ""
        if with_content:
            data = bytes(head["z"])
            parts = chunks.get(f"{head['span_id']}{keys.SEP}{head['gen']}", {})
            data += b"".join(parts[i] for i in range(1, int(head["chunks"])))
            content = zlib.decompress(data).decode("utf-8") if data else ""
        rows.append(
            SpanRow(
                trace_id=head["trace_id"],
                span_id=head["span_id"],
                parent_span_id=head.get("parent_span_id"),
                name=head.get("name"),
                span_type=head.get("span_type"),
                status=head.get("status"),
                start_time_ns=int(head["start_time_ns"]),
                end_time_ns=_int(head.get("end_time_ns")),
                content=content,
                usage=head.get("usage"),
                cost=head.get("cost"),
            )
        )
    return rows
