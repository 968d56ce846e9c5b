"""Jobs: the records of MLflow's job backend, one item per job (keys in
schema/job_keys.py, layout in docs/jobs.md).

Every state transition is ONE conditional UpdateItem on the job's item ("claim if PENDING",
"finish if PENDING, RUNNING or NEEDS_RECOVERY"...): two servers or job consumers racing for
one job cannot both win, whatever they read before. A failed condition returns the item as
it is (ReturnValuesOnConditionCheckFailure), so telling "no such job" from "wrong state"
costs no second request. The same update moves the item to its new status's key in the
status index, so listings by status read only jobs of those statuses.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.schema import job_keys as jk
from mlflow_dynamodbstore.schema.encoding import encode_int

Item = dict[str, Any]

# Text fields above this many UTF-8 bytes are stored zlib-compressed (as bytes), so a job's
# params or result (a JSON document) fit DynamoDB's 400 KB item when they would not raw.
COMPRESS_ABOVE_BYTES = 16_000
# Job ids we issue are uuid4 strings; anything far longer cannot be one of ours (and would
# not fit a key).
MAX_JOB_ID_BYTES = 1000
# The page of one listing request, and of the consistent re-read that follows it.
LIST_PAGE_SIZE = 100

# Runtime-only fields a terminal or re-queued job drops (as the SQL store sets them NULL).
TRANSIENT_FIELDS = (
    "lease_expires_at",
    "status_message",
    "progress",
    "progress_updated_at",
    "token_hash",
    "scoped_permissions",
    "next_attempt_at",
)


class JobMissing(Exception):
    """No job with that id in the caller's workspace."""


class WrongState(Exception):
    """The job exists but its status (or retry budget, or backoff) forbade the transition."""

    def __init__(self, item: Item):
        super().__init__(item.get("status"))
        self.item = item


def now_millis() -> int:
    # MLflow's clock (the SQL job store's), looked up at each call
    return get_current_time_millis()


def pack_text(value: str | None) -> str | bytes | None:
    if value is None:
        return None
    raw = value.encode("utf-8")
    return zlib.compress(raw) if len(raw) > COMPRESS_ABOVE_BYTES else value


def unpack_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return zlib.decompress(bytes(value)).decode("utf-8")


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def decode_fields(item: Item) -> dict[str, Any]:
    """The job's fields as MLflow's ``Job`` takes them (JSON documents parsed)."""

    def doc(name: str) -> Any:
        raw = item.get(name)
        return None if raw is None else json.loads(unpack_text(raw))

    timeout = item.get("timeout")
    return {
        "job_id": item["job_id"],
        "creation_time": int(item["creation_time"]),
        "job_name": item["job_name"],
        "params": unpack_text(item["params"]),
        "timeout": None if timeout is None else float(timeout),
        "status": item["status"],
        "result": unpack_text(item.get("result")),
        "retry_count": int(item.get("retry_count", 0)),
        "last_update_time": int(item["last_update_time"]),
        "workspace": item.get(keys.WORKSPACE_ATTRIBUTE),
        "executor_backend": item.get("executor_backend"),
        "lease_expires_at": _number(item.get("lease_expires_at")),
        "status_message": item.get("status_message"),
        "progress": doc("progress"),
        "progress_updated_at": _number(item.get("progress_updated_at")),
        "token_hash": item.get("token_hash"),
        "scoped_permissions": doc("scoped_permissions"),
        "status_details": doc("status_details"),
        "creator": item.get("creator"),
    }


def claimable_at(now: int) -> ConditionBase:
    """Not waiting out a retry backoff: a job re-pended after a transient error is not
    claimable before its ``next_attempt_at``."""
    return Attr("next_attempt_at").not_exists() | Attr("next_attempt_at").lte(now)


def retries_below(limit: int) -> ConditionBase:
    return Attr("retry_count").lt(limit)


def retries_at_least(limit: int) -> ConditionBase:
    return Attr("retry_count").gte(limit)


def _status_in(statuses: Iterable[str]) -> ConditionBase:
    return Attr("status").is_in(list(statuses))


class JobRepository:
    """Reads and conditional writes of job items, through the workspace-scoped gateway."""

    def __init__(self, gateway: Any):
        self.gateway = gateway

    # ---- create / read -----------------------------------------------------------------
    def create(
        self,
        *,
        job_name: str,
        params: str,
        timeout: float | None,
        creator: str | None,
        executor_backend: str | None,
        status: str,
    ) -> Item:
        workspace = self.gateway.scope
        job_id = str(uuid.uuid4())
        created = now_millis()
        item: Item = {
            **jk.job_key(job_id),
            **jk.job_list_keys(workspace, created, job_id),
            **jk.job_status_keys(workspace, status, created, job_id),
            keys.WORKSPACE_ATTRIBUTE: workspace,
            "job_id": job_id,
            "creation_time": created,
            "job_name": job_name,
            "params": pack_text(params),
            "status": status,
            "retry_count": 0,
            "last_update_time": created,
        }
        if timeout is not None:
            # repr keeps every bit of the float; DynamoDB numbers are decimal
            item["timeout"] = Decimal(repr(float(timeout)))
        if creator is not None:
            item["creator"] = creator
        if executor_backend is not None:
            item["executor_backend"] = executor_backend
        # a fresh uuid cannot exist: the condition only guards the impossible
        self.gateway.put_item(item, condition=Attr("PK").not_exists())
        return item

    @staticmethod
    def _addressable(job_id: str) -> bool:
        return isinstance(job_id, str) and 0 < len(job_id.encode("utf-8")) <= MAX_JOB_ID_BYTES

    def get(self, job_id: str) -> Item:
        if not self._addressable(job_id):
            raise JobMissing(job_id)
        item = self.gateway.get_item(jk.job_key(job_id), consistent=True)
        if item is None:
            raise JobMissing(job_id)
        return item

    # ---- transitions -------------------------------------------------------------------
    def transition(
        self,
        job_id: str,
        from_statuses: Iterable[str],
        *,
        set_fields: dict[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        new_status: str | None = None,
        extra_condition: ConditionBase | None = None,
        add_retry: bool = False,
    ) -> Item:
        """One conditional update: apply the change if the job's status is one of
        ``from_statuses`` (and ``extra_condition`` holds). Returns the updated item; raises
        ``JobMissing`` or ``WrongState`` (with the item as it is) otherwise."""
        if not self._addressable(job_id):
            raise JobMissing(job_id)
        fields = dict(set_fields or {})
        fields.setdefault("last_update_time", now_millis())
        workspace = self.gateway.scope
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (name, value) in enumerate(fields.items()):
            names[f"#u{i}"] = name
            values[f":u{i}"] = value
            sets.append(f"#u{i} = :u{i}")
        if new_status is not None:
            names["#ust"] = "status"
            values[":ust"] = new_status
            names["#ugpk"] = indexes.JOBS_BY_STATUS.pk
            values[":ugpk"] = jk.jobs_status_pk(workspace, new_status)
            sets += ["#ust = :ust", "#ugpk = :ugpk"]
        if add_retry:
            names["#urc"] = "retry_count"
            values[":uone"] = 1
            sets.append("#urc = #urc + :uone")
        expression = "SET " + ", ".join(sets)
        removes = [f"#ur{i}" for i, _ in enumerate(remove_fields)]
        for i, name in enumerate(remove_fields):
            names[f"#ur{i}"] = name
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        condition = Attr("PK").exists() & _status_in(from_statuses)
        if extra_condition is not None:
            condition = condition & extra_condition
        try:
            updated = self.gateway.update_item(
                jk.job_key(job_id),
                expression,
                names=names,
                values=values,
                condition=condition,
                return_values="ALL_NEW",
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise JobMissing(job_id) from None
            raise WrongState(exc.item) from None
        assert updated is not None
        return updated

    # ---- listings ----------------------------------------------------------------------
    def list(
        self,
        *,
        job_name: str | None,
        statuses: list[str] | None,
        begin_timestamp: int | None,
        end_timestamp: int | None,
    ) -> Iterator[Item]:
        """The workspace's jobs, oldest first (ties by id), re-read consistently so each
        yielded item is the job as it is now and still matches the filters."""
        workspace = self.gateway.scope
        lower = None if begin_timestamp is None else encode_int(int(begin_timestamp))
        # ``encode_int(end + 1)`` sorts after every "<end>#<id>" and before "<end + 1>#..."
        upper = None if end_timestamp is None else encode_int(int(end_timestamp) + 1)
        if upper is not None and lower is not None and upper < lower:
            return
        name_filter = None if job_name is None else Attr("job_name").eq(job_name)
        if statuses:
            wanted = set(statuses)
            sources = [
                self._listing(
                    indexes.JOBS_BY_STATUS,
                    jk.jobs_status_pk(workspace, status),
                    lower,
                    upper,
                    name_filter,
                )
                for status in sorted(wanted)
            ]
            listed = _merge_sorted(sources, indexes.JOBS_BY_STATUS.sk)
        else:
            wanted = None
            listed = self._listing(
                indexes.JOBS_BY_CREATION, jk.jobs_pk(workspace), lower, upper, name_filter
            )
        for page in _pages(listed, LIST_PAGE_SIZE):
            fresh = {
                item["job_id"]: item
                for item in self.gateway.batch_get(
                    [jk.job_key(i["job_id"]) for i in page], consistent=True
                )
            }
            for listed_item in page:
                item = fresh.get(listed_item["job_id"])
                if item is None:
                    continue  # deleted since the index was read
                if wanted is not None and item["status"] not in wanted:
                    continue  # left the status since the (lagging) index was read
                yield item

    def _listing(
        self,
        pattern: indexes.AccessPattern,
        pk_value: str,
        lower: str | None,
        upper: str | None,
        name_filter: ConditionBase | None,
    ) -> Iterator[Item]:
        kwargs: dict[str, Any] = {"index": pattern.index, "limit": LIST_PAGE_SIZE}
        if name_filter is not None:
            kwargs["filter"] = name_filter
        return self.gateway.query(
            pattern.key_condition(pk_value, lower=lower, upper=upper), **kwargs
        )

    def delete_finalized(
        self, job_ids: list[str] | None, finalized: list[str], created_before: int | None
    ) -> list[str]:
        """Delete the workspace's finalized jobs (all, or only ``job_ids``), optionally only
        those created before ``created_before``. Finalized jobs never change again, so the
        consistent read that picks them cannot be overtaken before the delete."""
        if job_ids:
            candidates = self.gateway.batch_get(
                [jk.job_key(i) for i in dict.fromkeys(job_ids) if self._addressable(i)],
                consistent=True,
            )
        else:
            upper = None if created_before is None else encode_int(int(created_before))
            listed: list[Item] = []
            for status in finalized:
                query = indexes.JOBS_BY_STATUS.key_condition(
                    jk.jobs_status_pk(self.gateway.scope, status),
                    below=upper,
                )
                listed.extend(self.gateway.query(query, index=indexes.JOBS_BY_STATUS.index))
            candidates = self.gateway.batch_get(
                [jk.job_key(i["job_id"]) for i in listed], consistent=True
            )
        doomed = [
            item
            for item in candidates
            if item["status"] in finalized
            and (created_before is None or int(item["creation_time"]) < created_before)
        ]
        doomed.sort(key=lambda i: (int(i["creation_time"]), i["job_id"]))
        self.gateway.batch_write(deletes=[jk.job_key(i["job_id"]) for i in doomed])
        return [i["job_id"] for i in doomed]


def _pages(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    page: list[Item] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def _merge_sorted(sources: list[Iterator[Item]], sort_attribute: str) -> Iterator[Item]:
    import heapq

    return heapq.merge(*sources, key=lambda item: item[sort_attribute])
