"""Keys of the lifecycle family: the deletion index and the cleanup job's record.

The deletion index is base-table items (no secondary index, so reads are strongly
consistent): one *marker* per soft delete, in a partition per UTC day of the deletion and
shard, so cleanup reads the days that are due and nothing else, and no partition grows with
the table (only with one day's deletions).
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta

from mlflow_dynamodbstore.schema.keys import CONFIG_PK, SEP

DELETIONS_PREFIX = f"LIFECYCLE{SEP}DELETED"
# Spread one day's deletions over a few partitions (~1,000 writes/s each).
DELETION_SHARDS = 4
DAY_FORMAT = "%Y%m%d"

KIND_RUN = "RUN"
KIND_EXPERIMENT = "EXP"
KINDS = (KIND_RUN, KIND_EXPERIMENT)

CLEANUP_JOB_SK = f"JOB{SEP}LIFECYCLE_CLEANUP"
APPLY_JOB_SK = f"JOB{SEP}LIFECYCLE_APPLY"


def day_of(epoch_ms: int) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date()


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def days_between(first: date, last: date) -> list[date]:
    """``first`` .. ``last`` inclusive (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def format_day(day: date) -> str:
    return day.strftime(DAY_FORMAT)


def parse_day(text: str) -> date:
    return datetime.strptime(text, DAY_FORMAT).replace(tzinfo=UTC).date()


def deletion_shard(owner_id: str) -> int:
    return zlib.crc32(owner_id.encode()) % DELETION_SHARDS


def deletions_pk(day: date, shard: int) -> str:
    return f"{DELETIONS_PREFIX}{SEP}{format_day(day)}{SEP}{shard}"


def deletion_marker_key(kind: str, owner_id: str, deleted_ms: int) -> dict[str, str]:
    """One marker per (kind, owner) and deletion day: deleting again the same day rewrites it."""
    return {
        "PK": deletions_pk(day_of(deleted_ms), deletion_shard(owner_id)),
        "SK": f"{kind}{SEP}{owner_id}",
    }


def cleanup_job_key() -> dict[str, str]:
    """``ttl cleanup``'s record: the first deletion day not yet fully processed."""
    return {"PK": CONFIG_PK, "SK": CLEANUP_JOB_SK}


def apply_job_key() -> dict[str, str]:
    """``ttl apply``'s record: where an interrupted rewrite resumes."""
    return {"PK": CONFIG_PK, "SK": APPLY_JOB_SK}
