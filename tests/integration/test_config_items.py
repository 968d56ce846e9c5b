"""The settings item on DynamoDB Local: stored, versioned, and safe under racing writers."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.stores.connection import connect


def test_settings_round_trip_and_version(store_uri):
    items = ConfigItems(connect(store_uri, shared=False).gateway)
    assert items.load() is None and items.version() is None
    stored = items.update(
        lambda s: replace(
            s,
            retention=RetentionPolicy(30, 7, 0),
            experiment_denormalize_tags=(("1", ("team.*",)),),
        ),
        initial=StoreSettings(),
    )
    assert stored.version == 1
    assert items.load() == stored
    assert items.load().tag_patterns_for("1") == ("mlflow.*", "team.*")
    assert items.load().indexes_tag("2", "team.x") is False


def test_concurrent_updates_each_land_once(store_uri):
    items = ConfigItems(connect(store_uri, shared=False).gateway)

    def add(n: int) -> None:
        items.update(
            lambda s: replace(s, denormalize_tags=(*s.denormalize_tags, f"t{n}")),
            initial=StoreSettings(),
        )

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(add, range(12)))
    final = items.load()
    assert final.version == 12
    assert sorted(final.denormalize_tags[1:]) == sorted(f"t{n}" for n in range(12))


def test_only_if_changed_writes_nothing_for_a_change_that_changes_nothing(store_uri):
    conn = connect(store_uri, shared=False, settings_environ={})
    items = ConfigItems(conn.gateway)
    first = items.update(
        lambda s: replace(s, denormalize_tags=("mlflow.*", "a")), initial=StoreSettings()
    )
    conn.stats.reset()
    same = items.update(lambda s: s, initial=StoreSettings(), only_if_changed=True)
    assert same == first and same.version == 1
    assert conn.stats.requests("GetItem") == 1 and conn.stats.requests("PutItem") == 0
    # Without the flag an update always writes (and bumps the version).
    assert items.update(lambda s: s, initial=StoreSettings()).version == 2
