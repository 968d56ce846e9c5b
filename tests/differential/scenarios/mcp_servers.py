"""MCP server registry scenarios: servers, versions (latest resolution, status changes),
aliases, tags, access endpoints, the three searches with their filters, orders and pages,
and bad input; messages compared.

MCP entities are dataclasses: ``_norm`` turns them into dicts. Access endpoint ids
(``ae-`` + 32 hex digits) are random in both stores and become ``<ae0>``, ``<ae1>``... in
order of appearance.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from functools import partial

from mlflow.entities.mcp_server import MCPRemoteTransportType, MCPStatus, MCPTool
from mlflow.entities.mcp_server_version import ConnectOptionSettings

from tests.differential import harness
from tests.differential.harness import attempt, to_plain

scenario = partial(harness.scenario, messages=True)

_ENDPOINT_ID = re.compile(r"\bae-[0-9a-f]{32}\b")
NAME = "com.example/weather"
OTHER = "io.github.acme/files"


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if "access_endpoints" in out:
            # in id order in both stores, but the ids are random: compare by url
            out["access_endpoints"].sort(key=lambda e: e["url"])
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _norm(value):
    seen: dict[str, str] = {}
    text = json.dumps(to_plain(_walk(value)), sort_keys=True)
    text = _ENDPOINT_ID.sub(lambda m: seen.setdefault(m.group(0), f"<ae{len(seen)}>"), text)
    return json.loads(text)


def _walk(value):
    """PagedLists keep their token flag; everything else through ``_plain``."""
    from mlflow.store.entities.paged_list import PagedList

    if isinstance(value, PagedList):
        return {"items": [_walk(v) for v in value], "token": "<token>" if value.token else None}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    return _plain(value)


def server_json(version: str, name: str = NAME, **extra) -> dict:
    return {"name": name, "version": version, "description": f"{name} {version}", **extra}


def pages(search, max_results: int) -> list:
    """Every page of a search, following its tokens."""
    out, token = [], None
    while True:
        page = search(max_results=max_results, page_token=token)
        out.append(page)
        token = page.token
        if not token:
            return out


@scenario()
def servers_lifecycle(store):
    out = [
        store.create_mcp_server(NAME, description="weather", created_by="ann"),
        store.create_mcp_server(
            OTHER,
            icons=[{"src": "https://93.184.216.34/icon.png", "sizes": ["32x32"], "theme": "light"}],
        ),
        attempt(lambda: store.create_mcp_server(NAME)),
        attempt(lambda: store.create_mcp_server("no-slash")),
        attempt(lambda: store.create_mcp_server("")),
        attempt(lambda: store.create_mcp_server("com.example/versions")),
        attempt(lambda: store.create_mcp_server("a/b", icons=[{"nosrc": 1}])),
        store.get_mcp_server(NAME),
        attempt(lambda: store.get_mcp_server("com.example/missing")),
        store.update_mcp_server(NAME, display_name="Weather", last_updated_by="bob"),
        store.update_mcp_server(NAME, description=None, icons=[]),
        store.update_mcp_server(OTHER, icons=None),
        attempt(lambda: store.update_mcp_server("com.example/missing", description="x")),
        store.search_mcp_servers(),
    ]
    store.delete_mcp_server(OTHER)
    out.append(attempt(lambda: store.delete_mcp_server(OTHER)))
    out.append(store.search_mcp_servers())
    out.append(store.create_mcp_server(OTHER))  # the name is free again
    return _norm(out)


@scenario()
def versions_and_latest(store):
    out = [
        store.create_mcp_server_version(server_json("1.0.0"), source="pypi", created_by="ann"),
        store.get_mcp_server(NAME),  # created with its first version
        store.create_mcp_server_version(
            server_json(
                "1.2.0-beta.1", icons=[{"src": "https://93.184.216.34/v.png", "theme": "dark"}]
            ),
            tools=[MCPTool(name="forecast", description="d", input_schema={"type": "object"})],
            connect_options={"api_key": ConnectOptionSettings(hidden=True)},
        ),
        store.create_mcp_server_version(server_json("1.1.0"), status=MCPStatus.ACTIVE),
        attempt(lambda: store.create_mcp_server_version(server_json("1.0.0"))),
        attempt(lambda: store.create_mcp_server_version({"name": NAME})),
        attempt(lambda: store.create_mcp_server_version(server_json("not-semver"))),
        attempt(
            lambda: store.create_mcp_server_version(server_json("2.0.0"), status=MCPStatus.DELETED)
        ),
        store.get_mcp_server(NAME),  # latest: the active 1.1.0
        store.get_latest_mcp_server_version(NAME),
        store.get_mcp_server_version(NAME, "1.2.0-beta.1"),
        attempt(lambda: store.get_mcp_server_version(NAME, "9.9.9")),
        attempt(lambda: store.get_latest_mcp_server_version("com.example/missing")),
        store.update_mcp_server_version(NAME, "1.1.0", status=MCPStatus.DEPRECATED),
        store.get_mcp_server(NAME),  # no active version: the highest semver
        attempt(
            lambda: store.update_mcp_server_version(NAME, "1.0.0", status=MCPStatus.DEPRECATED)
        ),
        attempt(lambda: store.update_mcp_server_version(NAME, "1.0.0", status=None)),
        store.update_mcp_server_version(NAME, "1.0.0", tools=None, last_updated_by="bob"),
        store.update_mcp_server_version(
            NAME, "1.0.0", tools=[MCPTool(name="t")], connect_options=None
        ),
        attempt(lambda: store.update_mcp_server_version(NAME, "9.9.9", tools=None)),
    ]
    store.delete_mcp_server_version(NAME, "1.2.0-beta.1")
    out += [
        attempt(lambda: store.get_mcp_server_version(NAME, "1.2.0-beta.1")),
        attempt(lambda: store.delete_mcp_server_version(NAME, "1.2.0-beta.1")),
        attempt(lambda: store.create_mcp_server_version(server_json("1.2.0-beta.1"))),
        attempt(lambda: store.delete_mcp_server_version(NAME, "9.9.9")),
        store.get_mcp_server(NAME),
    ]
    return _norm(out)


@scenario()
def delete_server_with_active_version(store):
    store.create_mcp_server_version(server_json("1.0.0"), status=MCPStatus.ACTIVE)
    store.create_mcp_server_version(server_json("0.9.0"), status=MCPStatus.ACTIVE)
    out = [attempt(lambda: store.delete_mcp_server(NAME))]
    store.update_mcp_server_version(NAME, "1.0.0", status=MCPStatus.DRAFT)
    store.update_mcp_server_version(NAME, "0.9.0", status=MCPStatus.DEPRECATED)
    store.set_mcp_server_tag(NAME, "team", "a")
    store.set_mcp_server_alias(NAME, "prod", "1.0.0")
    store.create_mcp_access_endpoint(NAME, "https://x/mcp", server_version="1.0.0")
    store.delete_mcp_server(NAME)
    out += [
        attempt(lambda: store.get_mcp_server(NAME)),
        store.search_mcp_access_endpoints(order_by=["created_at"]),
        store.create_mcp_server_version(server_json("1.0.0")),  # gone with its server
        store.get_mcp_server(NAME),
    ]
    return _norm(out)


@scenario()
def tags_and_aliases(store):
    store.create_mcp_server_version(server_json("1.0.0"))
    store.create_mcp_server_version(server_json("2.0.0"))
    store.set_mcp_server_tag(NAME, "team", "weather")
    store.set_mcp_server_tag(NAME, "team", "climate")
    store.set_mcp_server_tag(NAME, "tier", "gold")
    store.set_mcp_server_version_tag(NAME, "1.0.0", "reviewed", "yes")
    store.set_mcp_server_alias(NAME, "prod", "1.0.0")
    store.set_mcp_server_alias(NAME, "canary", "2.0.0")
    store.set_mcp_server_alias(NAME, "prod", "2.0.0")
    store.set_mcp_server_alias(NAME, "old", "1.0.0")
    out = [
        store.get_mcp_server(NAME),
        store.get_mcp_server_version(NAME, "2.0.0"),
        store.get_mcp_server_version_by_alias(NAME, "old"),
        store.get_mcp_server_version_by_alias(NAME, "latest"),
        attempt(lambda: store.get_mcp_server_version_by_alias(NAME, "nope")),
        attempt(lambda: store.set_mcp_server_alias(NAME, "latest", "1.0.0")),
        attempt(lambda: store.set_mcp_server_alias(NAME, "x", "9.9.9")),
        attempt(lambda: store.set_mcp_server_alias("com.example/missing", "x", "1.0.0")),
        attempt(lambda: store.set_mcp_server_tag("com.example/missing", "k", "v")),
        attempt(lambda: store.delete_mcp_server_tag(NAME, "nope")),
        attempt(lambda: store.set_mcp_server_version_tag(NAME, "9.9.9", "k", "v")),
        attempt(lambda: store.delete_mcp_server_version_tag(NAME, "1.0.0", "nope")),
        attempt(lambda: store.delete_mcp_server_version_tag(NAME, "9.9.9", "k")),
        attempt(lambda: store.delete_mcp_server_alias(NAME, "nope")),
    ]
    store.delete_mcp_server_tag(NAME, "tier")
    store.delete_mcp_server_version_tag(NAME, "1.0.0", "reviewed")
    store.delete_mcp_server_alias(NAME, "canary")
    out.append(store.get_mcp_server(NAME))
    store.delete_mcp_server_version(NAME, "1.0.0")  # takes alias "old" with it
    out += [
        store.get_mcp_server(NAME),
        attempt(lambda: store.set_mcp_server_alias(NAME, "again", "1.0.0")),
        attempt(lambda: store.set_mcp_server_version_tag(NAME, "1.0.0", "k", "v")),
    ]
    return _norm(out)


@scenario()
def access_endpoints(store):
    store.create_mcp_server_version(server_json("1.0.0"), status=MCPStatus.ACTIVE)
    store.create_mcp_server_version(server_json("2.0.0"))
    store.create_mcp_server_version(server_json("0.1.0", name=OTHER))
    store.set_mcp_server_alias(NAME, "prod", "1.0.0")
    direct = store.create_mcp_access_endpoint(NAME, "https://a/mcp", server_version="2.0.0")
    by_alias = store.create_mcp_access_endpoint(
        NAME, "https://b/mcp", transport_type=MCPRemoteTransportType.SSE, server_alias="prod"
    )
    latest = store.create_mcp_access_endpoint(NAME, "https://c/mcp", server_alias="latest")
    other = store.create_mcp_access_endpoint(OTHER, "https://d/mcp", server_version="0.1.0")
    out = [
        direct,
        by_alias,
        latest,
        other,
        attempt(lambda: store.create_mcp_access_endpoint(NAME, "https://x")),
        attempt(
            lambda: store.create_mcp_access_endpoint(
                NAME, "https://x", server_version="1.0.0", server_alias="prod"
            )
        ),
        attempt(lambda: store.create_mcp_access_endpoint(NAME, "  ", server_version="1.0.0")),
        attempt(lambda: store.create_mcp_access_endpoint(NAME, "https://x", server_version="9")),
        attempt(lambda: store.create_mcp_access_endpoint(NAME, "https://x", server_alias="no")),
        attempt(
            lambda: store.create_mcp_access_endpoint(
                "com.example/missing", "https://x", server_alias="latest"
            )
        ),
        store.get_mcp_server(NAME),
        store.get_mcp_access_endpoint(NAME, direct.id),
        attempt(lambda: store.get_mcp_access_endpoint(OTHER, direct.id)),
        attempt(lambda: store.get_mcp_access_endpoint(NAME, "ae-missing")),
        store.update_mcp_access_endpoint(NAME, direct.id, server_alias="prod", url="https://e"),
        store.update_mcp_access_endpoint(
            NAME, by_alias.id, server_version="1.0.0", transport_type=None, last_updated_by="z"
        ),
        attempt(
            lambda: store.update_mcp_access_endpoint(
                NAME, direct.id, server_version="1.0.0", server_alias="prod"
            )
        ),
        attempt(lambda: store.update_mcp_access_endpoint(NAME, direct.id, url=None)),
        attempt(lambda: store.update_mcp_access_endpoint(NAME, direct.id, server_version="9")),
        attempt(lambda: store.update_mcp_access_endpoint(OTHER, direct.id, url="https://f")),
        attempt(lambda: store.update_mcp_access_endpoint(NAME, "ae-missing", url="https://f")),
        attempt(lambda: store.delete_mcp_access_endpoint(OTHER, direct.id)),
        attempt(lambda: store.delete_mcp_access_endpoint(NAME, "ae-missing")),
    ]
    store.delete_mcp_access_endpoint(OTHER, other.id)
    # ids are random: list in creation order
    search = partial(store.search_mcp_access_endpoints, order_by=["created_at"])
    out.append(search())
    # deleting the alias takes its endpoints; deleting the version those of the version
    store.delete_mcp_server_alias(NAME, "prod")
    out.append(search(server_name=NAME))
    store.update_mcp_server_version(NAME, "1.0.0", status=MCPStatus.DEPRECATED)
    store.delete_mcp_server_version(NAME, "1.0.0")
    out.append(search(server_name=NAME))
    store.delete_mcp_server_version(NAME, "2.0.0")  # latest resolves to nothing now
    out.append(search())
    out.append(store.get_mcp_server(NAME))
    return _norm(out)


@scenario()
def search_servers(store):
    names = [f"com.example/s{i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        store.create_mcp_server(name, description=f"d{i}")
        if i % 2 == 0:
            store.create_mcp_server_version(
                server_json("1.0.0", name=name), status=MCPStatus.ACTIVE
            )
        if i % 3 == 0:
            store.set_mcp_server_tag(name, "team", "red" if i else "blue")
    store.update_mcp_server(names[3], display_name="Three")
    store.create_mcp_server_version(server_json("0.1.0", name=names[1]))
    store.create_mcp_access_endpoint(names[4], "https://x", server_alias="latest")
    search = store.search_mcp_servers
    out = [
        pages(search, 3),
        pages(partial(search, order_by=["created_at DESC"]), 2),
        pages(partial(search, order_by=["last_updated_at", "name DESC"]), 4),
        search(filter_string="status = 'active'"),
        search(filter_string="status != 'active'"),
        search(filter_string="status IN ('draft', 'active')", order_by=["name DESC"]),
        search(filter_string="tags.team = 'red'"),
        search(filter_string="tags.team LIKE '%e%' AND name != 'com.example/s00'"),
        search(filter_string="has_access_endpoints = 'true'"),
        search(filter_string="has_access_endpoints = 'false'", max_results=2),
        search(filter_string="name LIKE 'com.example/S%'"),
        search(filter_string="name ILIKE 'com.example/S0%'", max_results=3),
        search(filter_string="display_name = 'Three'"),
        search(filter_string=f"created_at > {0}"),
        attempt(lambda: search(filter_string="has_access_endpoints != 'true'")),
        attempt(lambda: search(filter_string="bogus = 1")),
        attempt(lambda: search(order_by=["description"])),
        attempt(lambda: search(order_by=["name", "name DESC"])),
        attempt(lambda: search(max_results=0)),
        attempt(lambda: search(max_results=1001)),
        attempt(lambda: search(page_token="not a token")),
    ]
    return _norm(out)


@scenario()
def search_versions(store):
    for version, status in [
        ("1.0.0", MCPStatus.ACTIVE),
        ("1.10.0", MCPStatus.DRAFT),
        ("1.2.0", MCPStatus.DRAFT),
        ("1.2.0-alpha", MCPStatus.DRAFT),
        ("1.2.0-alpha.2", MCPStatus.DRAFT),
        ("1.2.0+build.5", MCPStatus.DRAFT),
        ("0.9.9", MCPStatus.DRAFT),
    ]:
        store.create_mcp_server_version(server_json(version), status=status)
    store.delete_mcp_server_version(NAME, "0.9.9")
    search = partial(store.search_mcp_server_versions, NAME)
    out = [
        pages(search, 3),
        pages(partial(search, order_by=["last_updated_at DESC"]), 4),
        search(order_by=["created_at DESC"]),
        # MLflow's order_by parser takes "version" for a SQL keyword: refused on both
        attempt(lambda: search(order_by=["version DESC"])),
        search(filter_string="version >= '1.2.0-alpha.2'"),
        search(filter_string="version < '1.2.0'"),
        search(filter_string="version = '1.2.0+build.5'"),
        search(filter_string="version != '1.0.0' AND status = 'draft'"),
        search(filter_string="status IN ('active')"),
        store.search_mcp_server_versions("com.example/missing"),
        attempt(lambda: search(filter_string="version LIKE '1%'")),
        attempt(lambda: search(filter_string="version > 'bad'")),
        attempt(lambda: search(order_by=["status"])),
        attempt(lambda: search(order_by=["version", "version"])),
        attempt(lambda: search(max_results=-1)),
    ]
    return _norm(out)


def _endpoints_corpus(store) -> None:
    store.create_mcp_server_version(server_json("1.0.0"), status=MCPStatus.ACTIVE)
    store.create_mcp_server_version(server_json("2.0.0"))
    store.create_mcp_server_version(server_json("0.1.0", name=OTHER))
    store.set_mcp_server_alias(NAME, "prod", "1.0.0")
    for i in range(3):
        store.create_mcp_access_endpoint(NAME, f"https://v{i}", server_version="2.0.0")
    store.create_mcp_access_endpoint(NAME, "https://p", server_alias="prod")
    store.create_mcp_access_endpoint(
        NAME, "https://l", server_alias="latest", transport_type=MCPRemoteTransportType.SSE
    )
    store.create_mcp_access_endpoint(OTHER, "https://o", server_version="0.1.0")


@scenario(
    reference_since=(
        "3.17",
        "before it SqlAlchemyStore could not parse a server_name filter (a SQL keyword to "
        "sqlparse) nor take a list for it",
    )
)
def search_endpoints_by_server_name_filter(store):
    _endpoints_corpus(store)
    by_time = partial(store.search_mcp_access_endpoints, order_by=["created_at"])
    return _norm(
        [
            by_time(filter_string=f"server_name IN ('{OTHER}')"),
            by_time(filter_string=f"server_name = '{NAME}' AND status = 'active'"),
            by_time(filter_string=f"server_name != '{NAME}'"),
        ]
    )


@scenario()
def search_endpoints(store):
    _endpoints_corpus(store)
    search = store.search_mcp_access_endpoints
    by_time = partial(search, order_by=["created_at"])
    out = [
        pages(by_time, 2),
        pages(partial(search, order_by=["created_at DESC"]), 4),
        # MLflow's order_by parser takes "server_name" for a SQL keyword: refused on both
        attempt(lambda: search(order_by=["server_name DESC"])),
        by_time(server_name=NAME, server_version="2.0.0"),
        by_time(server_name=NAME, server_alias="prod"),
        by_time(server_alias="latest"),
        by_time(server_version="2.0.0", server_alias="prod"),
        by_time(filter_string="status = 'active'"),
        by_time(filter_string="transport_type = 'sse'"),
        by_time(server_name="com.example/missing"),
        attempt(lambda: search(filter_string="url = 'x'")),
        attempt(lambda: search(order_by=["url"])),
        attempt(lambda: search(max_results=0)),
    ]
    return _norm(out)


@scenario(workspaces=True)
def workspaces_isolate_servers(store):
    from mlflow.utils.workspace_context import WorkspaceContext

    from tests.differential.scenarios.scorers import _workspace

    _workspace(store, "team-a")
    with WorkspaceContext("default"):
        store.create_mcp_server_version(server_json("1.0.0"), status=MCPStatus.ACTIVE)
        ep = store.create_mcp_access_endpoint(NAME, "https://x", server_version="1.0.0")
    out = []
    with WorkspaceContext("team-a"):
        out += [
            attempt(lambda: store.get_mcp_server(NAME)),
            attempt(lambda: store.get_mcp_server_version(NAME, "1.0.0")),
            attempt(lambda: store.get_mcp_access_endpoint(NAME, ep.id)),
            attempt(lambda: store.update_mcp_access_endpoint(NAME, ep.id, url="https://y")),
            attempt(lambda: store.delete_mcp_access_endpoint(NAME, ep.id)),
            attempt(lambda: store.set_mcp_server_tag(NAME, "k", "v")),
            attempt(lambda: store.delete_mcp_server(NAME)),
            store.search_mcp_servers(),
            store.search_mcp_access_endpoints(),
            store.create_mcp_server_version(server_json("1.0.0")),  # its own server
            store.get_mcp_server(NAME),
        ]
    with WorkspaceContext("default"):
        out.append(store.get_mcp_server(NAME))
    return _norm(out)
