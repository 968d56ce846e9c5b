"""Paging reads each item about once: walking every page of a search costs about one read
of the collection, not one read per page (keyset page tokens; issue #15, part 3).

Read units come from DynamoDB Local's ConsumedCapacity, through the gateway's stats."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

MODELS = 60
PAGE = 10
DESCRIPTION = "d" * 3000  # ~3 KB per model, so read units count items, not rounding


@pytest.fixture
def registry(store_uri) -> DynamoDBRegistryStore:
    store = DynamoDBRegistryStore(store_uri)
    for i in range(MODELS):
        tags = [RegisteredModelTag("parity", str(i % 2))]
        store.create_registered_model(f"model-{i:03d}", tags=tags, description=DESCRIPTION)
    return store


def _page_all(store, **kwargs) -> tuple[list[str], int]:
    names, token, pages = [], None, 0
    while True:
        page = store.search_registered_models(max_results=PAGE, page_token=token, **kwargs)
        names += [m.name for m in page]
        pages += 1
        token = page.token
        if not token:
            return names, pages


def test_registered_models_paging_reads_the_collection_about_once(registry):
    stats = registry.gateway.stats
    stats.reset()
    everything = registry.search_registered_models(max_results=1000)
    whole_read = stats.read_capacity
    assert len(everything) == MODELS and whole_read > 0

    for order in (None, ["name DESC"]):
        stats.reset()
        names, pages = _page_all(registry, order_by=order)
        assert pages == MODELS // PAGE  # a full last page: no match after it, no token
        expected = sorted(f"model-{i:03d}" for i in range(MODELS))
        assert names == (expected if order is None else expected[::-1])
        # each page reads its 10 models plus the cursor and one look-ahead: ~1.2x one read
        # (an offset token would cost pages x one read: ~7x)
        assert stats.read_capacity <= 1.5 * whole_read, (order, stats.read_capacity, whole_read)
        assert stats.requests("Query") == pages  # one Query per page, nothing else
        assert stats.requests("Scan") == 0


def test_filtered_paging_walks_each_model_once(registry):
    stats = registry.gateway.stats
    stats.reset()
    names, pages = _page_all(registry, filter_string="tags.parity = '1'")
    assert names == [f"model-{i:03d}" for i in range(1, MODELS, 2)]
    assert pages == 3
    stats_whole = stats.read_capacity
    stats.reset()
    registry.search_registered_models(max_results=1000)
    # a filter rejecting half the models makes each page grow its Query (x2) past what it
    # needs: the overshoot is bounded by the page, so the total stays below two reads
    assert stats_whole <= 2 * stats.read_capacity


def test_a_name_order_token_is_refused_for_another_order(registry):
    page = registry.search_registered_models(max_results=5)
    with pytest.raises(MlflowException, match="different order_by") as info:
        registry.search_registered_models(
            max_results=5, order_by=["name DESC"], page_token=page.token
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="different order_by"):
        registry.search_registered_models(
            max_results=5, order_by=["last_updated_timestamp DESC"], page_token=page.token
        )


def test_offset_tokens_of_the_sql_format_still_page(registry):
    """Tokens issued before the upgrade (MLflow's offsets) page as the SQL store would."""
    from mlflow.utils.search_utils import SearchUtils

    token = SearchUtils.create_page_token(55)
    page = registry.search_registered_models(max_results=PAGE, page_token=token)
    assert [m.name for m in page] == [f"model-{i:03d}" for i in range(55, 60)]
    assert page.token is None


def test_datasets_paging_reads_the_listing_about_once(store_uri):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    tracking = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    for i in range(40):
        tracking.create_dataset(name=f"ds-{i:02d}", tags={"blob": DESCRIPTION})
    stats = tracking.gateway.stats
    stats.reset()
    assert len(tracking.search_datasets(max_results=1000)) == 40
    whole_read = stats.read_capacity

    stats.reset()
    names, token, pages = [], None, 0
    while True:
        page = tracking.search_datasets(max_results=PAGE, page_token=token)
        names += [d.name for d in page]
        pages += 1
        if not (token := page.token):
            break
    assert names == [f"ds-{i:02d}" for i in reversed(range(40))]
    assert pages == 4 and stats.requests("Query") == pages
    # offsets re-read every earlier page (page n read n x 11 datasets: ~2.7x one read)
    assert stats.read_capacity <= 1.3 * whole_read, (stats.read_capacity, whole_read)


def test_logged_models_paging_reads_the_listing_about_once(store_uri):
    from mlflow.entities import LoggedModelParameter

    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    tracking = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = tracking.create_experiment("many")
    params = [LoggedModelParameter("p", DESCRIPTION)]
    for i in range(40):
        tracking.create_logged_model(exp, name=f"n{i:02d}", params=params)
    stats = tracking.gateway.stats
    stats.reset()
    everything = tracking.search_logged_models([exp], max_results=1000)
    whole_read = stats.read_capacity
    assert len(everything) == 40

    for filter_string in (None, "params.p LIKE 'd%'"):
        stats.reset()
        names, token, pages = [], None, 0
        while True:
            page = tracking.search_logged_models(
                [exp], filter_string=filter_string, max_results=PAGE, page_token=token
            )
            names += [m.name for m in page]
            pages += 1
            if not (token := page.token):
                break
        assert names == [m.name for m in everything]
        assert pages == 4
        # offsets re-read every earlier page: page n read n x 11 models (~2.7x one read)
        assert stats.read_capacity <= 1.3 * whole_read, (filter_string, stats.read_capacity)
