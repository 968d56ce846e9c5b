"""What the search_traces paging tests share: a second page's cost, and a table from before
a listing (its keys stripped from trace META items)."""

from __future__ import annotations

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.indexes import AccessPattern


def second_page_cost(store, experiment_id: str, order: list[str]) -> tuple[int, float]:
    """Requests and Query read units of the second page of 5 in ``order``."""
    _, token = store.search_traces([experiment_id], max_results=5, order_by=order)
    stats = store.gateway.stats
    stats.reset()
    found, _ = store.search_traces([experiment_id], max_results=5, order_by=order,
                                   page_token=token)  # fmt: skip
    assert len(found) == 5
    return stats.total_requests, stats.snapshot()["Query"].read_capacity


def strip_listing_keys(store, trace_ids: list[str], listing: AccessPattern) -> None:
    """Remove ``listing``'s key attributes from these traces' META (as written before it)."""
    for trace_id in trace_ids:
        store.gateway.update_item(
            keys.trace_key(trace_id), "REMOVE #p, #s", names={"#p": listing.pk, "#s": listing.sk}
        )
