"""Races between writers on one model: version numbers, stage bookkeeping, aliases vs deletes.

Several store instances and threads stand in for several servers: all coordination goes
through the table (conditional writes and transactions), none through process memory."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore


def _stores(store_uri: str, n: int) -> list[DynamoDBRegistryStore]:
    return [DynamoDBRegistryStore(store_uri) for _ in range(n)]


def test_concurrent_version_creates_get_each_number_once(store_uri):
    stores = _stores(store_uri, 8)
    stores[0].create_registered_model("m")

    def create(i: int) -> int:
        return int(stores[i % 8].create_model_version("m", f"s3://b/{i}").version)

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(create, range(50)))

    assert sorted(numbers) == list(range(1, 51))
    found = stores[0].search_model_versions("name = 'm'", max_results=100)
    assert sorted(int(mv.version) for mv in found) == list(range(1, 51))
    # Every version's source is the one its creator wrote: no write was lost or swapped.
    sources = {int(mv.version): mv.source for mv in found}
    assert sorted(sources.values()) == sorted(f"s3://b/{i}" for i in range(50))
    latest = stores[0].get_registered_model("m").latest_versions
    assert [(mv.current_stage, int(mv.version)) for mv in latest] == [("None", 50)]


def test_concurrent_creates_of_one_name_have_one_winner(store_uri):
    stores = _stores(store_uri, 8)

    def create(i: int) -> str:
        try:
            stores[i].create_registered_model("same", tags=[RegisteredModelTag("who", str(i))])
            return "won"
        except MlflowException as e:
            return e.error_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("won") == 1
    assert outcomes.count("RESOURCE_ALREADY_EXISTS") == 7
    assert len(stores[0].search_registered_models()) == 1


def test_concurrent_transitions_keep_latest_per_stage_exact(store_uri):
    stores = _stores(store_uri, 6)
    stores[0].create_registered_model("m")
    for i in range(12):
        stores[0].create_model_version("m", f"s3://{i}")

    def transition(i: int) -> None:
        stage = ["Staging", "Production", "Archived"][i % 3]
        stores[i % 6].transition_model_version_stage("m", i + 1, stage, False)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(transition, range(12)))

    latest = {mv.current_stage: int(mv.version) for mv in stores[0].get_latest_versions("m")}
    assert latest == {"Staging": 10, "Production": 11, "Archived": 12}
    from_meta = stores[0].get_registered_model("m").latest_versions
    assert {mv.current_stage: int(mv.version) for mv in from_meta} == latest
    # Stages come in the order of their lowest live version, recomputed from every version.
    lowest: dict[str, int] = {}
    for mv in stores[0].search_model_versions("name = 'm'"):
        lowest[mv.current_stage] = min(lowest.get(mv.current_stage, 99), int(mv.version))
    assert [mv.current_stage for mv in from_meta] == sorted(lowest, key=lowest.get)


def test_alias_set_racing_delete_never_leaves_dangling_alias(store_uri):
    stores = _stores(store_uri, 2)
    stores[0].create_registered_model("m")
    for round_ in range(6):
        version = int(stores[0].create_model_version("m", f"s3://{round_}").version)

        def set_alias(v=version):
            try:
                stores[0].set_registered_model_alias("m", "a", v)
            except MlflowException as e:
                assert e.error_code == "RESOURCE_DOES_NOT_EXIST"

        def delete(v=version):
            stores[1].delete_model_version("m", v)

        with ThreadPoolExecutor(max_workers=2) as pool:
            for f in [pool.submit(set_alias), pool.submit(delete)]:
                f.result()
        aliases = stores[0].get_registered_model("m").aliases
        assert aliases.get("a") != version
