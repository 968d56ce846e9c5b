"""Keyset paging of search_model_versions and search_registered_models by last update
(issue #15, part 3): paging through a collection costs about one read of it, tokens only
page the search that issued them, and writes between pages never repeat or skip a row
that did not move.

Read units come from DynamoDB Local's ConsumedCapacity, through the gateway's stats."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.repositories.registry import order_state
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

MODELS = 20
VERSIONS = 100  # per model: 2,000 versions
PAGE = 100


@pytest.fixture(scope="module")
def big_registry(dynamodb_local):
    """2,000 versions in 20 models (made once for the module: ~10,000 requests)."""
    uri = f"dynamodb://127.0.0.1:{dynamodb_local.port}/t{uuid.uuid4().hex[:16]}"
    store = DynamoDBRegistryStore(uri)
    for m in range(MODELS):
        name = f"model-{m:02d}"
        store.create_registered_model(name)
        for _ in range(VERSIONS):
            store.create_model_version(name, f"s3://bucket/{name}", run_id=f"run-{m}")
    return store


def _page_all(store, **kwargs) -> tuple[list[tuple[str, int]], int]:
    rows, token, pages = [], None, 0
    while True:
        page = store.search_model_versions(max_results=PAGE, page_token=token, **kwargs)
        rows += [(mv.name, int(mv.version)) for mv in page]
        pages += 1
        token = page.token
        if not token:
            return rows, pages


def _figures(stats) -> str:
    return f"{stats.total_requests} requests, {stats.read_capacity:.0f} RCU"


@pytest.mark.parametrize(
    "order",
    [
        None,
        ["last_updated_timestamp ASC"],
        ["creation_timestamp DESC"],
        ["name ASC"],
        ["name DESC", "version_number ASC"],
        ["version_number ASC"],
        ["version_number DESC"],
        ["version_number DESC", "creation_timestamp ASC"],
    ],
)
def test_paging_2000_versions_reads_them_about_once(big_registry, order):
    stats = big_registry.gateway.stats
    stats.reset()
    everything = big_registry.search_model_versions(max_results=10_000, order_by=order)
    assert len(everything) == MODELS * VERSIONS
    whole = stats.read_capacity
    whole_listing = stats.snapshot()["Query"].read_capacity
    print(f"\n{order}: one page of all: {_figures(stats)}")

    stats.reset()
    rows, pages = _page_all(big_registry, order_by=order)
    print(f"{order}: {pages} pages of {PAGE}: {_figures(stats)}")
    assert rows == [(mv.name, int(mv.version)) for mv in everything]
    assert pages == MODELS * VERSIONS // PAGE
    assert stats.requests("Scan") == 0
    if order and order[0].startswith("version_number"):
        # every page holds versions of all 20 models: its BatchGetItem reads their 20 META
        # items (10 RCU) again; the listing itself is read about once, or, when timestamps
        # break the ties, each number whole plus the growing look-ahead that closes the last
        listing = stats.snapshot()["Query"].read_capacity
        factor = 1.6 if len(order) == 1 else 4
        print(f"{order}: listing {listing:.0f} RCU of {whole_listing:.0f} for one read")
        assert listing <= factor * whole_listing, (order, listing, whole_listing)
        assert stats.requests("BatchGetItem") == pages
        return
    # each page reads its rows plus a look-ahead and its models' META items; an offset
    # token would cost pages x one read (20x here)
    assert stats.read_capacity <= 1.6 * whole, (order, stats.read_capacity, whole)


def test_a_version_number_page_reads_what_it_returns(big_registry):
    """The version-number order (schema/version_number_keys.py): a page is a Query of the
    listing from the cursor and a BatchGetItem of its models, whichever page it is."""
    stats = big_registry.gateway.stats
    order = ["version_number DESC"]
    stats.reset()
    first = big_registry.search_model_versions(max_results=PAGE, order_by=order)
    first_cost = stats.read_capacity
    print(f"\nversion_number DESC, first page: {_figures(stats)}")
    assert [int(mv.version) for mv in first] == [v for v in range(100, 95, -1) for _ in range(20)]
    assert "after" in json.loads(base64.b64decode(first.token))
    token = first.token
    for _ in range(18):  # to the last page
        token = big_registry.search_model_versions(
            max_results=PAGE, order_by=order, page_token=token
        ).token
    stats.reset()
    last = big_registry.search_model_versions(max_results=PAGE, order_by=order, page_token=token)
    print(f"version_number DESC, page 20: {_figures(stats)}")
    assert [int(mv.version) for mv in last] == [v for v in range(5, 0, -1) for _ in range(20)]
    assert last.token is None
    assert stats.read_capacity <= 1.2 * first_cost
    assert stats.total_requests <= 3


def test_filtered_paging(big_registry):
    rows, _ = _page_all(big_registry, filter_string="name = 'model-03'")
    assert rows == [("model-03", v) for v in range(VERSIONS, 0, -1)]
    rows, _ = _page_all(big_registry, filter_string="run_id = 'run-4'", order_by=["name ASC"])
    assert rows == [("model-04", v) for v in range(VERSIONS, 0, -1)]
    stats = big_registry.gateway.stats
    stats.reset()
    rows, _ = _page_all(
        big_registry, filter_string="name LIKE 'model-1%'", order_by=["creation_timestamp ASC"]
    )
    assert sorted(rows) == sorted((f"model-{m}", v) for m in range(10, 20) for v in range(1, 101))
    assert stats.requests("Scan") == 0


@pytest.fixture
def registry(store_uri) -> DynamoDBRegistryStore:
    store = DynamoDBRegistryStore(store_uri)
    for m in range(4):
        store.create_registered_model(f"m{m}")
        for _ in range(5):
            store.create_model_version(f"m{m}", "s3://x")
    return store


def _expect_invalid(call, match: str = "Invalid page token"):
    with pytest.raises(MlflowException, match=match) as info:
        call()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def _forge(token: str, **changes) -> str:
    data = json.loads(base64.b64decode(token))
    data.update(changes)
    return base64.b64encode(json.dumps(data).encode()).decode()


def test_bad_tokens_are_refused(registry):
    search = registry.search_model_versions
    token = search(max_results=3).token
    _expect_invalid(lambda: search(max_results=3, page_token=token[:-6]))  # truncated
    _expect_invalid(lambda: search(max_results=3, page_token=_forge(token, after=["x", 1, 2])))
    _expect_invalid(lambda: search(max_results=3, page_token=_forge(token, after=[True, "m", 1])))
    _expect_invalid(lambda: search(max_results=3, page_token=_forge(token, after="m1")))
    _expect_invalid(lambda: search(max_results=3, page_token=_forge(token, order=[])))
    _expect_invalid(lambda: search(max_results=3, page_token=_forge(token, search="x")))
    # another order, another filter, another search
    _expect_invalid(lambda: search(max_results=3, order_by=["name ASC"], page_token=token))
    _expect_invalid(lambda: search("name LIKE 'm%'", max_results=3, page_token=token))
    models = registry.search_registered_models
    _expect_invalid(lambda: models(max_results=3, page_token=token))
    rm_token = models(max_results=1, order_by=["last_updated_timestamp DESC"]).token
    _expect_invalid(lambda: search(max_results=3, page_token=rm_token))
    _expect_invalid(lambda: models(max_results=1, page_token=rm_token))  # name order
    _expect_invalid(
        lambda: models(max_results=1, order_by=["last_updated_timestamp ASC"], page_token=rm_token)
    )


def test_writes_between_pages_never_repeat_or_skip_unmoved_rows(registry):
    """A version updated after its page moves before the cursor: the next pages do not
    return it again (SQL's offset would, and would skip another row)."""
    first = registry.search_model_versions(max_results=6)
    seen = [(mv.name, int(mv.version)) for mv in first]
    registry.update_model_version("m0", 1, "moved to the top")  # was on a later page
    registry.transition_model_version_stage(*seen[0], "Staging", False)  # already returned
    registry.delete_model_version("m3", 2)
    rest, token = [], first.token
    while token:
        page = registry.search_model_versions(max_results=6, page_token=token)
        rest += [(mv.name, int(mv.version)) for mv in page]
        token = page.token
    every = {(f"m{m}", v) for m in range(4) for v in range(1, 6)} - {("m3", 2)}
    assert len(rest) == len(set(rest))
    assert not set(rest) & set(seen)
    assert set(seen) | set(rest) | {("m0", 1)} >= every
    assert ("m0", 1) not in rest  # moved before the cursor


def test_a_renamed_models_versions_move_to_the_rename_time(registry):
    registry.rename_registered_model("m1", "renamed")
    page = registry.search_model_versions(max_results=5)
    assert [(mv.name, int(mv.version)) for mv in page] == [("renamed", v) for v in range(5, 0, -1)]
    stamps = {mv.last_updated_timestamp for mv in page}
    assert stamps == {registry.get_registered_model("renamed").last_updated_timestamp}
    models = registry.search_registered_models(
        max_results=1, order_by=["last_updated_timestamp DESC"]
    )
    assert [m.name for m in models] == ["renamed"]


def test_a_table_without_backfilled_listings_pages_by_offset(registry):
    """Until the listings are complete (a table older than them), the full read is used:
    the same rows, the SQL store's offset tokens."""
    keyset_rows = [(mv.name, mv.version) for mv in registry.search_model_versions()]
    order_state.READINESS.mark(registry.gateway, False)
    try:
        page = registry.search_model_versions(max_results=7)
        assert json.loads(base64.b64decode(page.token)) == {"offset": 7}
        rest = registry.search_model_versions(max_results=100, page_token=page.token)
        assert [(mv.name, mv.version) for mv in [*page, *rest]] == keyset_rows
        models = registry.search_registered_models(
            max_results=2, order_by=["last_updated_timestamp DESC"]
        )
        assert json.loads(base64.b64decode(models.token)) == {"offset": 2}
    finally:
        order_state.READINESS.mark(registry.gateway, True)


def test_model_paging_by_last_update_reads_the_listing_about_once(registry):
    stats = registry.gateway.stats
    for order in (["last_updated_timestamp DESC"], ["last_updated_timestamp ASC", "name DESC"]):
        stats.reset()
        everything = registry.search_registered_models(max_results=1000, order_by=order)
        whole_queries = stats.requests("Query")
        names, token = [], None
        stats.reset()
        while True:
            page = registry.search_registered_models(
                max_results=1, order_by=order, page_token=token
            )
            names += [m.name for m in page]
            token = page.token
            if not token:
                break
        assert names == [m.name for m in everything]
        # one Query per page (the last may ask once more to learn the listing ended)
        assert whole_queries == 1 and stats.requests("Query") <= len(names) + 1
        assert stats.requests("Scan") == 0


def test_backfill_order_gives_older_items_their_keys(registry, store_uri, monkeypatch):
    """A table from before the listings (no keys, no ready item): the backfill command adds
    exactly what live writes write, then the searches page with keyset tokens."""
    from click.testing import CliRunner
    from mlflow.entities.model_registry import ModelVersionTag

    from mlflow_dynamodbstore.backfills import model_walk
    from mlflow_dynamodbstore.backfills import registry_order as backfill_module
    from mlflow_dynamodbstore.cli.main import cli
    from mlflow_dynamodbstore.schema import indexes

    registry.rename_registered_model("m2", "m2-renamed")
    registry.create_registered_model("prompt")
    registry.create_model_version("prompt", "s3://p", tags=[ModelVersionTag(PROMPT, "true")])
    registry.delete_model_version("m0", 3)
    gateway = registry._conn.gateway

    def registry_items() -> dict:
        found = {}
        for meta in registry.models.list_in_workspace("default"):
            meta_item, versions = registry.versions.read_model(meta["model_id"])
            for item in (meta_item, *versions):
                found[(item["PK"], item["SK"])] = item
        return found

    before = registry_items()
    model_keys = indexes.REGISTERED_MODELS_BY_LAST_UPDATE.key_attributes
    version_keys = (
        *indexes.MODEL_VERSIONS_BY_LAST_UPDATE.key_attributes,
        *indexes.MODEL_VERSIONS_BY_CREATION.key_attributes,
    )
    for (pk, sk), item in before.items():
        dropped = (*model_keys, "prompt_versions") if sk == "META" else version_keys
        present = [a for a in dropped if a in item]
        if present:
            gateway.update_item(
                {"PK": pk, "SK": sk},
                "REMOVE " + ", ".join(f"#r{i}" for i in range(len(present))),
                names={f"#r{i}": a for i, a in enumerate(present)},
            )
    order_state.READINESS.mark(gateway, False)
    assert registry_items() != before
    assert json.loads(base64.b64decode(registry.search_model_versions(max_results=2).token)) == {
        "offset": 2
    }

    dry = CliRunner().invoke(cli, ["registry", "backfill-order", store_uri, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {
        "models": 5,
        "versions": 20,
        "resumed": False,
        "dry_run": True,
    }
    assert registry_items() != before  # a dry run writes nothing

    monkeypatch.setattr(model_walk, "PAGE", 2)  # several pages: the cursor moves
    result = CliRunner().invoke(cli, ["registry", "backfill-order", store_uri, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"] == 5
    assert registry_items() == before  # exactly what the live writes had written
    assert gateway.get_item(backfill_module.registry_order_keys.backfill_record_key()) is None
    order_state.READINESS.forget()
    page = registry.search_model_versions(max_results=2)
    assert "after" in json.loads(base64.b64decode(page.token))


PROMPT = "mlflow.prompt.is_prompt"
