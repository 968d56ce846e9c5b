"""Keys that let search_traces page in trace-name order (docs/trace-paging.md, "Name order").

Named traces are already on the name listing (schema/trace_name_keys.py: GSI1
``EXP#<exp>#TNAME#<name digest>``, newest first) and the experiment's distinct names in its
name dictionary. What the name order lacks is the SQL store's NULL group: traces without a
name come after every named one in either direction. They get a listing of their own, on
the GSI1 key attributes the name listing uses (a trace has a name or not, never both):

    GSI1PK  EXP#<experiment id>#TNAMELESS      GSI1SK  <-timestamp_ms enc>#<trace_id>

``TRACES_WITHOUT_NAME``, written by every META write (repositories/traces/codec.py
``finalize``); naming a trace moves it to its name's listing in the same write. Whether every
trace of a table carries it (a table created with this version does; older ones once
``traces backfill-order`` ran) is the ``CONFIG`` / ``TRACES#NAMELESS#READY`` item.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk, trace_list_sk

_CONFIG_PK = "CONFIG"


def nameless_pk(experiment_id: str) -> str:
    return f"{experiment_pk(str(experiment_id))}{SEP}TNAMELESS"


def nameless_keys(experiment_id: str, timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """TRACES_WITHOUT_NAME (GSI1): the experiment's unnamed traces, newest first."""
    return indexes.TRACES_WITHOUT_NAME.keys(
        nameless_pk(experiment_id), trace_list_sk(timestamp_ms, trace_id)
    )


def ready_key() -> dict[str, str]:
    """Marker: every trace of the table without a name is on TRACES_WITHOUT_NAME."""
    return {"PK": _CONFIG_PK, "SK": SEP.join(("TRACES", "NAMELESS", "READY"))}
