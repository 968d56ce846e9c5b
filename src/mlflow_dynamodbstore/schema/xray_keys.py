"""Keys of the X-Ray family: one state item per trace whose spans X-Ray could not give.

- ``TRACE#<trace id>`` / ``XRAY``: in the trace's own partition (so it goes with the trace
  when the trace is deleted, and carries the trace's TTL). It records the last failed or
  empty X-Ray lookup (``outcome``, ``reason``, ``attempts``) and ``retry_after`` (epoch
  seconds): reads before then do not call X-Ray again. Deleted once the spans are cached.

The sort key sorts after ``SPAN``/``SPANC``, so span reads (``begins_with SPAN``) never see it.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.keys import trace_pk

XRAY_STATE_SK = "XRAY"


def xray_state_key(trace_id: str) -> dict[str, str]:
    return {"PK": trace_pk(trace_id), "SK": XRAY_STATE_SK}
