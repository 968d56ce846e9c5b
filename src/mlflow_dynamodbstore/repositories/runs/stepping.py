"""Option D's training step (issue #20): the attributes of a run that steps its metric keys
through its LIVE item, and what readers need to see that state.

While a run is RUNNING with ``STEP_MODE`` on its META, a steady step writes its LIVE item
only: each key's latest entry (``metrics``, live.py) and the point appended to the key's
buffer (``P#<key>``, schema/live_step_keys.py); ``buffered`` counts the buffered points,
``flush_seq`` the flushes. The first step of a key through LIVE *announces* it: the key's
LATEST item gets ``IN_LIVE`` and its rank entry leaves the value order for the ``~S#``
range of its shard, and LIVE's ``announced`` set records it. Readers then:

- history (metric_history.py): a LATEST item with ``IN_LIVE`` sends the reader to LIVE for
  the key's buffered points (and to the blocks of flushes it may have missed);
- order by metric (search/runs/planner.py): the ``~S#`` entries name the runs whose value
  is in LIVE; their META and LIVE are read and merged into the ranking;
- settling (``update_run_info`` to a terminal status) flushes the buffers and puts every
  announced key's rank entry back in the value order (RunRepository.settle).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.schema.live_step_keys import live_buffer_attribute

Item = dict[str, Any]
# On LATEST: the key's latest value and recent points are in its run's LIVE item.
IN_LIVE = "in_live"
# On META: the run's training steps write LIVE only (cleared when the run ends).
STEP_MODE = "step_mode"
# On LIVE: the keys announced (a string set), the points buffered over all keys, and how
# many times the buffers were flushed.
LIVE_ANNOUNCED = "announced"
LIVE_BUFFERED = "buffered"
LIVE_FLUSH_SEQ = "flush_seq"
# Points per key a LIVE buffer holds before a flush: LIVE stays within ~4 KB with 10 keys
# (docs/benchmarks.md, "D: the design": B = 12).
BUFFER_POINTS = 12
# Keys one LIVE item admits: AWS bills the whole item at every step.
MAX_LIVE_KEYS = 32


def is_announced(latest: Item | None) -> bool:
    return bool(latest and latest.get(IN_LIVE))


def announced_keys(live: Item | None) -> set[str]:
    return set((live or {}).get(LIVE_ANNOUNCED) or ())


def live_buffer(live: Item | None, key: str) -> list[bytes]:
    """The packed points buffered in LIVE for ``key``."""
    return [bytes(p) for p in (live or {}).get(live_buffer_attribute(key)) or []]


def flush_seq(live: Item | None) -> int:
    return int((live or {}).get(LIVE_FLUSH_SEQ) or 0)
