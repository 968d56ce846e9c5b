"""Keys of the trace listing by execution time (keyset paging of ``search_traces`` ordered
by ``execution_time_ms``).

``TRACES_BY_EXECUTION_TIME`` (GSI2, overloaded): every trace META item also sits under
``EXP#<exp>#TRDUR`` with the sort key

- ``V#<execution_time_ms enc>#<trace_id>`` when it has an execution time (read forwards:
  ascending, backwards: descending; ties are ordered in memory by the search);
- ``N#<-timestamp_ms enc>#<trace_id>`` when it has none (in progress): these sort after
  every value in either direction, as the SQL store's NULLs do, already in its tie-break
  order (timestamp_ms DESC, trace id ASC) when read forwards.

The keys are written with every META write (repositories/traces/codec.py ``finalize``), so
they move, change and go with the trace. Whether every trace of a table has them (a table
created with this version does; older tables need ``traces backfill-order``) is the
``CONFIG`` / ``TRACES#ORDER#READY`` item.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk

VALUES_PREFIX = f"V{SEP}"
NULLS_PREFIX = f"N{SEP}"
_CONFIG_PK = "CONFIG"


def ready_key() -> dict[str, str]:
    return {"PK": _CONFIG_PK, "SK": SEP.join(("TRACES", "ORDER", "READY"))}


def backfill_key() -> dict[str, str]:
    """The cursor of ``traces backfill-order`` while it runs."""
    return {"PK": _CONFIG_PK, "SK": SEP.join(("JOB", "TRACE_ORDER_BACKFILL"))}


def by_execution_time_pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}TRDUR"


def execution_time_sk(execution_time_ms: int | None, timestamp_ms: int, trace_id: str) -> str:
    if execution_time_ms is None:
        return f"{null_bound(timestamp_ms)}{SEP}{trace_id}"
    return f"{value_bound(execution_time_ms)}{SEP}{trace_id}"


def execution_time_keys(
    experiment_id: str, execution_time_ms: int | None, timestamp_ms: int, trace_id: str
) -> dict[str, str]:
    return indexes.TRACES_BY_EXECUTION_TIME.keys(
        by_execution_time_pk(experiment_id),
        execution_time_sk(execution_time_ms, timestamp_ms, trace_id),
    )


def value_bound(execution_time_ms: int) -> str:
    """The sort key prefix of every trace with this execution time."""
    return f"{VALUES_PREFIX}{encode_int(int(execution_time_ms))}"


def null_bound(timestamp_ms: int) -> str:
    """The sort key prefix of every trace without an execution time started at this time."""
    return f"{NULLS_PREFIX}{encode_int(-int(timestamp_ms))}"


def values_range(start: int | None, descending: bool) -> tuple[str, str]:
    """(lower, upper), inclusive: the traces with an execution time, from the group of
    ``start`` on (None: all of them) in the direction read."""
    lower, upper = VALUES_PREFIX, _END_OF_VALUES
    if start is not None:
        if descending:
            upper = f"{value_bound(start)}{_AFTER_SEP}"
        else:
            lower = value_bound(start)
    return lower, upper


def nulls_range(newest: int | None) -> tuple[str, str]:
    """(lower, upper), inclusive: the traces without an execution time, from those started at
    ``newest`` on (None: all of them), read forwards (newest first)."""
    lower = NULLS_PREFIX if newest is None else null_bound(newest)
    return lower, _END_OF_NULLS


# One past every key with the prefix ("$" follows "#"): inclusive upper bounds.
_AFTER_SEP = "$"
_END_OF_VALUES = f"V{_AFTER_SEP}"
_END_OF_NULLS = f"N{_AFTER_SEP}"
