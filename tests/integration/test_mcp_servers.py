"""The MCP server registry on DynamoDB Local: what the common calls cost (as
docs/access-patterns.md states), versions taken exactly once under concurrency, keyset
pages, workspace isolation and DynamoDB's size limits as clear errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow.entities.mcp_server import MCPStatus
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

NAME = "com.example/weather"


def _requests(store, call) -> int:
    start = store.gateway.stats.total_requests
    call()
    return store.gateway.stats.total_requests - start


def _version(version: str, name: str = NAME) -> dict:
    return {"name": name, "version": version}


def test_request_counts(store):
    assert _requests(store, lambda: store.create_mcp_server(NAME)) == 1
    # GetItem (the server) + one transaction (server check + version put)
    assert _requests(store, lambda: store.create_mcp_server_version(_version("1.0.0"))) == 2
    # a new server: the same two requests (the server put joins the transaction)
    other = _version("1.0.0", "io.github.acme/files")
    assert _requests(store, lambda: store.create_mcp_server_version(other)) == 2
    assert _requests(store, lambda: store.set_mcp_server_tag(NAME, "k", "v")) == 1
    assert _requests(store, lambda: store.set_mcp_server_version_tag(NAME, "1.0.0", "k", "v")) == 1
    assert _requests(store, lambda: store.set_mcp_server_alias(NAME, "prod", "1.0.0")) == 3
    # a server whole: GetItem + one Query of its partition
    assert _requests(store, lambda: store.get_mcp_server(NAME)) == 2
    assert _requests(store, lambda: store.get_mcp_server_version(NAME, "1.0.0")) == 2
    assert _requests(store, lambda: store.get_latest_mcp_server_version(NAME)) == 2
    endpoint = store.create_mcp_access_endpoint(NAME, "https://x", server_alias="prod")
    assert (
        _requests(
            store,
            lambda: store.create_mcp_access_endpoint(NAME, "https://y", server_version="1.0.0"),
        )
        == 3
    )
    assert _requests(store, lambda: store.get_mcp_access_endpoint(NAME, endpoint.id)) == 3
    assert _requests(store, lambda: store.search_mcp_access_endpoints(server_name=NAME)) == 2
    assert _requests(store, lambda: store.search_mcp_server_versions(NAME)) == 2
    # servers by name: one Query of the listing, one per server on the page
    for i in range(6):
        store.create_mcp_server(f"com.example/s{i}")
    assert _requests(store, lambda: store.search_mcp_servers(max_results=3)) == 1 + 3
    assert _requests(store, lambda: store.update_mcp_server(NAME, display_name="W")) == 3
    assert _requests(store, lambda: store.delete_mcp_server("com.example/s0")) == 3


def test_page_n_costs_page_n(store):
    """A later page starts its Query at the token's name: it reads that page, not the
    servers before it."""
    for i in range(40):
        store.create_mcp_server(f"com.example/s{i:02d}")
    token, reads = None, []
    seen: list[str] = []
    while True:
        start = store.gateway.stats.total_requests
        page = store.search_mcp_servers(max_results=10, page_token=token)
        reads.append(store.gateway.stats.total_requests - start)
        seen += [s.name for s in page]
        token = page.token
        if not token:
            break
    assert seen == sorted(f"com.example/s{i:02d}" for i in range(40))
    assert reads == [11, 11, 11, 11]


def test_pages_neither_repeat_nor_skip_when_servers_come_and_go(store):
    for i in range(0, 20, 2):
        store.create_mcp_server(f"com.example/s{i:02d}")
    first = store.search_mcp_servers(max_results=4)
    store.delete_mcp_server(first[-1].name)  # the token's own server goes
    store.create_mcp_server("com.example/s07")  # one after the cursor comes
    store.create_mcp_server("com.example/s01")  # one before it comes
    rest, token = [], first.token
    while token:
        page = store.search_mcp_servers(max_results=4, page_token=token)
        rest += [s.name for s in page]
        token = page.token
    assert [s.name for s in first] == [f"com.example/s{i:02d}" for i in (0, 2, 4, 6)]
    assert rest == [f"com.example/s{i:02d}" for i in (7, 8, 10, 12, 14, 16, 18)]


def test_a_token_of_another_order_is_refused(store):
    for i in range(3):
        store.create_mcp_server(f"com.example/s{i}")
    token = store.search_mcp_servers(max_results=1).token
    with pytest.raises(MlflowException) as info:
        store.search_mcp_servers(max_results=1, order_by=["created_at"], page_token=token)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_version_is_taken_exactly_once(store_uri, store):
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(4)]

    def create(i: int):
        try:
            return stores[i % 4].create_mcp_server_version(_version("1.0.0"), source=f"s{i}")
        except MlflowException as exc:
            return exc.error_code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    winners = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["RESOURCE_ALREADY_EXISTS"] * 7
    assert store.get_mcp_server_version(NAME, "1.0.0").source == winners[0].source


def test_racing_first_versions_share_one_server(store_uri, store):
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: stores[i % 4].create_mcp_server_version(_version(f"1.0.{i}")),
                range(8),
            )
        )
    assert [s.name for s in store.search_mcp_servers()] == [NAME]
    versions = store.search_mcp_server_versions(NAME)
    assert sorted(v.version for v in versions) == sorted(f"1.0.{i}" for i in range(8))


def test_other_workspaces_ids_are_not_found(store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    store = DynamoDBTrackingStore(store_uri, "s3://b/a")
    DynamoDBWorkspaceProvider(store_uri).create_workspace(Workspace(name="team-a"))
    with WorkspaceContext("default"):
        store.create_mcp_server_version(_version("1.0.0"), status=MCPStatus.ACTIVE)
        endpoint = store.create_mcp_access_endpoint(NAME, "https://x", server_version="1.0.0")
    with WorkspaceContext("team-a"):
        for call in (
            lambda: store.get_mcp_server(NAME),
            lambda: store.get_mcp_access_endpoint(NAME, endpoint.id),
            lambda: store.delete_mcp_access_endpoint(NAME, endpoint.id),
            lambda: store.set_mcp_server_alias(NAME, "a", "1.0.0"),
            lambda: store.set_mcp_server_version_tag(NAME, "1.0.0", "k", "v"),
        ):
            with pytest.raises(MlflowException) as info:
                call()
            assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert list(store.search_mcp_access_endpoints()) == []
        assert list(store.search_mcp_servers()) == []
    with WorkspaceContext("default"):
        assert store.get_mcp_access_endpoint(NAME, endpoint.id).url == "https://x"
        assert store.get_mcp_server(NAME).tags == {}


def test_a_version_over_the_item_limit_is_bad_input(store):
    big = {**_version("1.0.0"), "description": "x" * 500_000}
    with pytest.raises(MlflowException) as info:
        store.create_mcp_server_version(big)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "400 KB" in info.value.message
