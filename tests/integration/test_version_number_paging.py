"""search_model_versions ordered by ``version_number`` first (issue #15): keyset tokens over
the version-number order (schema/version_number_keys.py), so page N costs the entries it
returns plus the few read to find it, whatever N; the keys follow creates, deletes and
renames; older tables keep offset paging until ``registry backfill-version-order`` ran.

Index entries read are counted at the gateway (every Query of the listing), requests
through the gateway's stats."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.backfills import model_walk
from mlflow_dynamodbstore.backfills import version_number_order as backfill_module
from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.repositories.registry import version_number_order
from mlflow_dynamodbstore.schema import indexes, version_number_keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

LISTING = indexes.MODEL_VERSIONS_BY_WORKSPACE
# name -> versions: version 1..3 shared by every model, a long run only "solo" has
COUNTS = {f"m{i:02d}": 1 + i % 4 for i in range(24)} | {"solo": 40}
TOTAL = sum(COUNTS.values())
ORDERS = [
    ["version_number ASC"],
    ["version_number DESC"],
    ["version_number ASC", "name DESC"],
    ["version_number DESC", "name DESC"],
]


@pytest.fixture
def registry(store_uri) -> DynamoDBRegistryStore:
    store = DynamoDBRegistryStore(store_uri)
    for name, count in COUNTS.items():
        store.create_registered_model(name)
        for _ in range(count):
            store.create_model_version(name, "s3://x")
    return store


class EntryCounter:
    """Entries of the workspace version listing each Query returned."""

    def __init__(self, gateway, monkeypatch):
        self.entries = 0
        unscoped = gateway.unscoped
        original = unscoped.query_page

        def counted(key_condition, **kwargs):
            items, last = original(key_condition, **kwargs)
            if kwargs.get("index") == LISTING.index:
                self.entries += sum(1 for i in items if "version" in i)
            return items, last

        monkeypatch.setattr(unscoped, "query_page", counted)


def _expected(order: list[str]) -> list[tuple[str, int]]:
    rows = [(n, v) for n, c in COUNTS.items() for v in range(1, c + 1)]
    number_desc = "DESC" in order[0]
    name_desc = (len(order) > 1 and "DESC" in order[1]) or False
    # SQL: number, then name (ascending unless given)
    rows.sort(key=lambda r: r[0], reverse=name_desc)
    return sorted(rows, key=lambda r: r[1], reverse=number_desc)


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: " ".join(o))
def test_every_page_costs_what_it_returns(registry, monkeypatch, order):
    counter = EntryCounter(registry.gateway, monkeypatch)
    stats = registry.gateway.stats
    rows, token, costs = [], None, []
    while True:
        counter.entries = 0
        stats.reset()
        page = registry.search_model_versions(max_results=5, order_by=order, page_token=token)
        rows += [(mv.name, int(mv.version)) for mv in page]
        costs.append((counter.entries, stats.requests("Query"), stats.total_requests))
        token = page.token
        if token:
            assert "after" in json.loads(base64.b64decode(token))  # keyset, not an offset
        else:
            break
    assert rows == _expected(order)
    assert stats.requests("Scan") == 0
    for entries, queries, requests in costs:
        # the page (5), a look-ahead row, the rest of a number cut by a Query's end (read
        # again from its start): never the versions of the pages before
        assert entries <= 3 * (5 + 2), costs
        assert queries <= 4 and requests <= 5, costs  # Queries + 1 BatchGetItem of models
    # the last pages cost what the first do (an offset would read every version each time)
    assert max(c[0] for c in costs[-5:]) <= max(c[0] for c in costs[:5]) + 7, costs


def test_timestamp_ties_read_each_number_whole(registry, monkeypatch):
    """``version_number DESC, creation_timestamp ASC``: a number's versions are sorted in
    memory, so a page reads the numbers it touches (here at most 25 per number)."""
    counter = EntryCounter(registry.gateway, monkeypatch)
    order = ["version_number DESC", "creation_timestamp ASC"]
    everything = registry.search_model_versions(max_results=1000, order_by=order)
    rows, token = [], None
    while True:
        counter.entries = 0
        page = registry.search_model_versions(max_results=7, order_by=order, page_token=token)
        rows += [(mv.name, int(mv.version)) for mv in page]
        assert counter.entries <= 2 * (len(COUNTS) + 7 + 2)
        token = page.token
        if not token:
            break
    assert rows == [(mv.name, int(mv.version)) for mv in everything]
    assert len(rows) == TOTAL


def test_tokens_page_only_their_search(registry):
    search = registry.search_model_versions
    token = search(max_results=3, order_by=["version_number ASC"]).token
    for call in (
        lambda: search(max_results=3, order_by=["version_number DESC"], page_token=token),
        lambda: search(
            "name = 'solo'", max_results=3, order_by=["version_number ASC"], page_token=token
        ),
        lambda: search(max_results=3, page_token=token),
    ):
        with pytest.raises(MlflowException, match="Invalid page token") as info:
            call()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    for position in (["1", "m00"], [1 << 70, "m00"], [1, 2]):
        forged = {**json.loads(base64.b64decode(token)), "after": position}
        with pytest.raises(MlflowException, match="Invalid page token") as info:
            search(
                max_results=3,
                order_by=["version_number ASC"],
                page_token=base64.b64encode(json.dumps(forged).encode()).decode(),
            )
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def _listing_keys(registry, name: str) -> dict[int, str]:
    meta = registry.models.find("default", name)
    _, items = registry.versions.read_model(meta["model_id"])
    return {int(i["version"]): i[LISTING.sk] for i in items}


def test_keys_follow_deletes_and_renames(registry):
    registry.delete_model_version("m03", 2)
    registry.rename_registered_model("m03", "renamed")
    model_id = registry.models.find("default", "renamed")["model_id"]
    assert _listing_keys(registry, "renamed") == {
        1: version_number_keys.live_sk(1, "renamed"),
        2: version_number_keys.deleted_sk(model_id, 2),
        3: version_number_keys.live_sk(3, "renamed"),
        4: version_number_keys.live_sk(4, "renamed"),
    }
    page = registry.search_model_versions(max_results=100, order_by=["version_number DESC"])
    threes = [mv.name for mv in page if int(mv.version) == 3]
    names = [n for n, c in COUNTS.items() if c >= 3 and n != "m03"]
    assert threes == sorted([*names, "renamed"])


def test_a_create_from_a_stale_meta_is_keyed_under_the_new_name(registry):
    """A version created from META read before a rename: the create's condition on the name
    fails, and the version is written under the model's new name (claim and reserved
    paths)."""
    stale = registry.models.find("default", "m05")
    registry.rename_registered_model("m05", "m05-new")
    fields = {
        "creation_time": 1,
        "last_updated_time": 1,
        "current_stage": "None",
        "source": "s3://x",
        "status": "READY",
    }
    claimed = registry.versions.create(stale, fields)
    reserved = registry.versions._create_reserved(stale, fields)
    assert claimed[LISTING.sk] == version_number_keys.live_sk(int(claimed["version"]), "m05-new")
    assert reserved[LISTING.sk] == version_number_keys.live_sk(int(reserved["version"]), "m05-new")
    assert int(reserved["version"]) == int(claimed["version"]) + 1


def test_backfill_version_order_rekeys_older_tables(registry, store_uri, monkeypatch):
    """A table from before the order (``<model id>#<version>`` keys, no ready item): offset
    paging until the backfill re-keys every version, keyset tokens after it."""
    registry.delete_model_version("m07", 1)
    gateway = registry._conn.gateway
    before = {n: _listing_keys(registry, n) for n in ("m07", "solo", "m01")}
    for name in COUNTS:
        meta = registry.models.find("default", name)
        _, items = registry.versions.read_model(meta["model_id"])
        for item in items:
            gateway.update_item(
                {"PK": item["PK"], "SK": item["SK"]},
                "SET #sk = :sk",
                names={"#sk": LISTING.sk},
                values={":sk": f"{meta['model_id']}#{int(item['version']):020d}"},
            )
    version_number_order.READINESS.mark(gateway, False)
    try:
        order = ["version_number DESC"]
        page = registry.search_model_versions(max_results=4, order_by=order)
        assert json.loads(base64.b64decode(page.token)) == {"offset": 4}
        offset_rows = [
            (mv.name, mv.version)
            for mv in registry.search_model_versions(max_results=1000, order_by=order)
        ]

        dry = CliRunner().invoke(
            cli, ["registry", "backfill-version-order", store_uri, "--dry-run", "--json"]
        )
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout) == {
            "models": len(COUNTS),
            "versions": TOTAL,
            "rekeyed": TOTAL,
            "resumed": False,
            "dry_run": True,
        }
        monkeypatch.setattr(model_walk, "PAGE", 7)  # several pages: the cursor moves
        result = CliRunner().invoke(
            cli, ["registry", "backfill-version-order", store_uri, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["rekeyed"] == TOTAL
        assert gateway.get_item(version_number_keys.backfill_record_key()) is None
        assert {n: _listing_keys(registry, n) for n in before} == before
        version_number_order.READINESS.forget()
        assert version_number_order.READINESS.is_ready(gateway)
        page = registry.search_model_versions(max_results=4, order_by=order)
        assert "after" in json.loads(base64.b64decode(page.token))
        rows, token = [], None
        while True:
            page = registry.search_model_versions(max_results=9, order_by=order, page_token=token)
            rows += [(mv.name, mv.version) for mv in page]
            token = page.token
            if not token:
                break
        assert rows == offset_rows
        again = CliRunner().invoke(cli, ["registry", "backfill-version-order", store_uri, "--json"])
        assert json.loads(again.stdout)["rekeyed"] == 0  # idempotent
    finally:
        version_number_order.READINESS.mark(gateway, True)


def test_backfill_resumes_after_its_last_saved_page(registry, store_uri, monkeypatch):
    gateway = registry._conn.gateway
    version_number_order.READINESS.mark(gateway, False)
    monkeypatch.setattr(model_walk, "PAGE", 5)
    calls = {"n": 0}
    original = backfill_module._model

    def failing(gw, model_id, dry_run):
        calls["n"] += 1
        if calls["n"] == 12:
            raise RuntimeError("interrupted")
        return original(gw, model_id, dry_run)

    monkeypatch.setattr(backfill_module, "_model", failing)
    with pytest.raises(RuntimeError):
        backfill_module.backfill_version_number_order(gateway)
    assert not version_number_order.READINESS.is_ready(gateway)
    record = gateway.get_item(version_number_keys.backfill_record_key())
    assert record["workspace"] == "default" and "after" in record
    monkeypatch.setattr(backfill_module, "_model", original)
    report = backfill_module.backfill_version_number_order(gateway)
    assert report.resumed and report.models == len(COUNTS) - 10  # two pages were saved
    assert version_number_order.READINESS.is_ready(gateway)
