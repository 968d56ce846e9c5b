"""A dataset's records: items ``EDS#<dataset_id>`` / ``R#<record id>``, the id derived from
the record's inputs hash, paged by DATASET_RECORDS_BY_CREATION (LSI3).

Deduplication is by key, not by a read: a new record is a put conditioned on
``attribute_not_exists``, so of two upserts inserting the same inputs at once one inserts
and the other finds the winner (its condition fails) and merges into it instead. A merge is
an optimistic write conditioned on the record's ``version``. Writes go in transactions of up
to 99 records (and at most ~3.5 MB); each transaction that inserts also ``ADD``s the number
of inserted records to META's ``num_records``, on condition that the dataset is live, so the
count (the SQL store's profile) is exact and no record is written into a deleted dataset.

A record too big for one item keeps its body in part items (parts.py): they are written
before the transaction that commits the head naming them, and the generation a head no
longer names is deleted after it.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase
from mlflow.entities.dataset_record import DatasetRecord
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.gateway.errors import Contention, TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.optimistic import CONFLICT_BACKOFF, DEFAULT_ATTEMPTS
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway
from mlflow_dynamodbstore.repositories.datasets import codec, parts
from mlflow_dynamodbstore.repositories.datasets.datasets import DatasetMissing, live
from mlflow_dynamodbstore.schema import dataset_keys, indexes

_RECORDS_PER_TRANSACTION = TRANSACTION_LIMIT - 1  # + META's count
_TRANSACTION_BYTES = 3_500_000  # below DynamoDB's 4 MB per transaction
_RECORD_ID_LENGTH = len(codec.record_id_for("d", "h"))


@dataclass(eq=False)
class _Pending:
    """The record dicts of one inputs hash, in call order, and what is known of its item."""

    record_id: str
    input_hash: str
    dicts: list[dict[str, Any]]
    existing: dict[str, Any] | None = None
    existing_body: bytes = b""
    item: dict[str, Any] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)  # the new head's part items
    inserts: bool = False
    committed: bool = False


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0


class DatasetRecordRepository:
    def __init__(self, gateway: ScopedGateway):
        self.gateway = gateway

    # ---- upsert --------------------------------------------------------------------
    def upsert(
        self,
        dataset_id: str,
        workspace: str,
        records: list[dict[str, Any]],
        now: int,
        clock: Callable[[], int],
    ) -> UpsertResult:
        """Insert or merge each record as SqlAlchemyStore.upsert_dataset_records does: one
        record per inputs hash; a later dict of the same inputs (in this call or after)
        merges into it. ``now`` is the created time of new records; ``clock`` times merges."""
        pending: dict[str, _Pending] = {}
        for record_dict in records:
            hash_ = codec.input_hash(record_dict)
            if hash_ not in pending:
                pending[hash_] = _Pending(codec.record_id_for(dataset_id, hash_), hash_, [])
            pending[hash_].dicts.append(record_dict)
        self._read_existing(dataset_id, list(pending.values()))
        result = UpsertResult()
        todo = list(pending.values())
        for attempt in range(DEFAULT_ATTEMPTS):
            for p in todo:
                self._build(p, dataset_id, workspace, now, clock)
            lost = self._write_with_parts(dataset_id, todo)
            lost_ids = {id(p) for p in lost}
            done = [p for p in todo if id(p) not in lost_ids]
            for p in done:
                result.inserted += 1 if p.inserts else 0
                result.updated += len(p.dicts) - (1 if p.inserts else 0)
            if not lost:
                return result
            # Lost races: another writer inserted or changed these records; merge into theirs.
            self._read_existing(dataset_id, lost)
            todo = lost
            if attempt + 1 < DEFAULT_ATTEMPTS:
                time.sleep(CONFLICT_BACKOFF.delay(attempt))
        raise Contention("upsert_dataset_records", DEFAULT_ATTEMPTS)

    def _write_with_parts(self, dataset_id: str, todo: list[_Pending]) -> list[_Pending]:
        """The new parts, then the heads' transactions, then the parts no head names any
        more: those of the generations replaced, and those written for heads that lost."""
        for p in todo:
            p.committed = False
        try:
            self.gateway.batch_write(puts=[part for p in todo for part in p.parts])
            lost = self._write(dataset_id, todo)
        except BaseException:
            self._free([part for p in todo if not p.committed for part in p.parts])
            raise
        garbage = [part for p in todo if not p.committed for part in p.parts]
        garbage += [
            key
            for p in todo
            if p.committed and p.existing is not None
            for key in parts.part_keys(p.existing)
        ]
        self._free(garbage)
        return lost

    def _free(self, items: list[dict[str, Any]]) -> None:
        if items:
            self.gateway.batch_write(deletes=parts.item_keys(items))

    def _read_existing(self, dataset_id: str, pending: list[_Pending]) -> None:
        """The current head and body of each pending record (None if there is none)."""
        found = self.gateway.batch_get(
            [dataset_keys.dataset_record_key(dataset_id, p.record_id) for p in pending],
            consistent=True,
        )
        loaded = parts.load(self.gateway, found)
        by_sk = {head["SK"]: (head, body) for head, body in loaded.values()}
        for p in pending:
            sk = dataset_keys.dataset_record_key(dataset_id, p.record_id)["SK"]
            p.existing, p.existing_body = by_sk.get(sk, (None, b""))

    def _build(
        self,
        p: _Pending,
        dataset_id: str,
        workspace: str,
        now: int,
        clock: Callable[[], int],
    ) -> None:
        dicts = p.dicts
        if p.existing is None:
            sql_record = codec.new_sql_record(dataset_id, p.record_id, dicts[0], now, p.input_hash)
            dicts = dicts[1:]
            p.inserts = True
            version = 1
        else:
            sql_record = codec.sql_record_of(p.existing, p.existing_body)
            p.inserts = False
            version = int(p.existing.get("version", 0)) + 1
        for record_dict in dicts:
            sql_record.merge(record_dict)  # MLflow's merge (it reads its own clock)
        p.item, p.parts = codec.record_items(sql_record, workspace, version)

    def _write(self, dataset_id: str, pending: list[_Pending]) -> list[_Pending]:
        """Write every record in transactions; the records whose condition failed."""
        lost: list[_Pending] = []
        for chunk in _chunks(pending):
            actions = []
            for p in chunk:
                if p.inserts:
                    condition = Attr("PK").not_exists()
                else:
                    condition = Attr("version").eq(int(p.existing["version"]))
                actions.append(self.gateway.tx_put(p.item, condition))
            inserted = sum(1 for p in chunk if p.inserts)
            if inserted:
                actions.append(
                    self.gateway.tx_update(
                        dataset_keys.dataset_key(dataset_id),
                        "ADD #u_n :u_n",
                        names={"#u_n": "num_records"},
                        values={":u_n": inserted},
                        condition=live(),
                    )
                )
            try:
                self.gateway.transact_write(actions)
                for p in chunk:
                    p.committed = True
            except TransactionCancelled as exc:
                failed = set(exc.failed_conditions())
                if not failed:
                    if not exc.has_conflict:
                        raise
                    # Still colliding with other writers' transactions after the gateway's
                    # retries (they share META's count): the whole chunk goes again.
                    lost.extend(chunk)
                    continue
                if inserted and len(chunk) in failed:
                    raise DatasetMissing(dataset_id) from None
                lost.extend(p for i, p in enumerate(chunk) if i in failed)
                # The transaction wrote nothing: the others go again with the lost ones.
                lost.extend(p for i, p in enumerate(chunk) if i not in failed)
        return lost

    # ---- delete --------------------------------------------------------------------
    def delete(self, dataset_id: str, record_ids: list[str]) -> int:
        """Delete the records of these ids; how many existed. META's count goes down in the
        same transaction, and its empty profile becomes SQL's ``"null"``."""
        if not codec.addressable(dataset_id):
            return 0
        wanted = [
            r
            for r in dict.fromkeys(record_ids)
            if isinstance(r, str) and len(r) == _RECORD_ID_LENGTH and r.startswith("dr-")
        ]
        deleted = 0
        for _attempt in range(DEFAULT_ATTEMPTS):
            found = self.gateway.batch_get(
                [dataset_keys.dataset_record_key(dataset_id, r) for r in wanted], consistent=True
            )
            if not found:
                return deleted
            lost = False
            for start in range(0, len(found), _RECORDS_PER_TRANSACTION):
                chunk = found[start : start + _RECORDS_PER_TRANSACTION]
                # Conditioned on the version read: the parts freed below are those it names.
                actions = [
                    self.gateway.tx_delete({"PK": i["PK"], "SK": i["SK"]}, _unchanged(i))
                    for i in chunk
                ]
                actions.append(
                    self.gateway.tx_update(
                        dataset_keys.dataset_key(dataset_id),
                        "ADD #u_n :u_n SET #u_e = :u_e",
                        names={"#u_n": "num_records", "#u_e": "empty_profile"},
                        values={":u_n": -len(chunk), ":u_e": "null"},
                        condition=Attr("PK").exists(),
                    )
                )
                try:
                    self.gateway.transact_write(actions)
                    deleted += len(chunk)
                except TransactionCancelled as exc:
                    if not (exc.is_condition_failure or exc.has_conflict):
                        raise
                    lost = True  # someone changed or deleted some of them: read again
                    continue
                self._free([key for i in chunk for key in parts.part_keys(i)])
            if not lost:
                return deleted
            # Records deleted by a chunk that went through are not found again.
        raise Contention("delete_dataset_records", DEFAULT_ATTEMPTS)

    # ---- read ----------------------------------------------------------------------
    def page(
        self, dataset_id: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[DatasetRecord], str | None]:
        """Records in (created_time, record id) order after the token's position; all of
        them when ``max_results`` is None. Tokens are the SQL store's
        (base64 of ``<created_time>:<record id>``)."""
        pattern = indexes.DATASET_RECORDS_BY_CREATION
        start_key = None
        if not codec.addressable(dataset_id):
            return [], None
        if page_token:
            created_time, record_id = _decode_token(page_token)
            start_key = {
                **dataset_keys.dataset_record_key(dataset_id, record_id),
                pattern.sk: dataset_keys.dataset_record_order_sk(created_time, record_id),
            }
        want = None if max_results is None else max_results + 1
        items: list[dict[str, Any]] = []
        while True:
            limit = None if want is None else min(want - len(items), 1000)
            page, start_key = self.gateway.query_page(
                pattern.pk_eq(dataset_keys.dataset_pk(dataset_id)),
                index=pattern.index,
                consistent=True,
                limit=limit,
                start_key=start_key,
            )
            items.extend(page)
            if not start_key or (want is not None and len(items) >= want):
                break
        next_token = None
        if max_results is not None and len(items) > max_results:
            items = items[:max_results]
            last = items[-1]
            cursor = f"{int(last['created_time'])}:{last['dataset_record_id']}"
            next_token = base64.b64encode(cursor.encode()).decode()
        # Bodies of the big records on this page only; a record rewritten meanwhile comes
        # in its new version, one deleted and inserted again (a new place in the order)
        # or just deleted is left out, as a read a moment later would.
        loaded = parts.load(self.gateway, items)
        records = [
            codec.to_record(head, body)
            for position, (head, body) in sorted(loaded.items())
            if head["created_time"] == items[position]["created_time"]
        ]
        return records, next_token


def _unchanged(item: dict[str, Any]) -> ConditionBase:
    if "version" in item:
        return Attr("version").eq(item["version"])
    return Attr("PK").exists() & Attr("version").not_exists()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        created_time, record_id = base64.b64decode(token.encode()).decode().split(":", 1)
        return int(created_time), record_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MlflowException.invalid_parameter_value(
            f"Invalid page token for dataset records: {token!r}"
        ) from None


def _chunks(pending: list[_Pending]):
    chunk: list[_Pending] = []
    size = 0
    for p in pending:
        item_size = len(p.item.get("body", b"")) + 2048
        full = len(chunk) >= _RECORDS_PER_TRANSACTION or size + item_size > _TRANSACTION_BYTES
        if chunk and full:
            yield chunk
            chunk, size = [], 0
        chunk.append(p)
        size += item_size
    if chunk:
        yield chunk
