"""Keys of the recent-points buffer of metric history (repositories/runs/metric_buffer.py).

A training step's points ride in the LATEST item of their (run, key) history partition
(attribute ``recent``) instead of one item each; a full buffer is flushed into a block
item whose sort key starts with ``MB#``. That prefix sorts *after* ``LATEST`` ("M" > "L"),
so a Query over the partition, which reads items in sort-key order, reaches LATEST before
any block a concurrent flush writes: the flush writes its block first and empties the
buffer after, so a reader that finds the buffer already emptied still finds the block.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.keys import SEP, metric_history_pk

FLUSHED_BLOCK_PREFIX = f"MB{SEP}"


def flushed_block_key(run_id: str, key: str, digest: str) -> dict[str, str]:
    """A block of buffered points flushed out of the LATEST item; named by its content's
    digest, so two flushers of the same buffer write the same item."""
    return {"PK": metric_history_pk(run_id, key), "SK": f"{FLUSHED_BLOCK_PREFIX}{digest}"}
