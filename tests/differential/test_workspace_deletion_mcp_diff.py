"""Workspace deletion of MCP servers (with versions, aliases, tags, version tags and access
endpoints) against MLflow's SQL workspace store, where ``mcp_servers`` is a workspace root:
RESTRICT refuses, CASCADE deletes, SET_DEFAULT moves them, its preflight refusing names
default already has. Compared call by call; endpoint ids are random, so endpoints are
compared by url."""

# ruff: noqa: F811 (the shared ``sides`` fixture is imported, then requested by name)
from __future__ import annotations

from mlflow.entities.mcp_server import MCPStatus
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential.test_workspace_deletion_diff import (
    Side,
    attempt,
    compare,
    sides,  # noqa: F401
)

RESTRICT, CASCADE, SET_DEFAULT = (
    WorkspaceDeletionMode.RESTRICT,
    WorkspaceDeletionMode.CASCADE,
    WorkspaceDeletionMode.SET_DEFAULT,
)


def populate_mcp(side: Side, workspace: str, name: str = "com.example/weather") -> None:
    store = side.tracking
    with WorkspaceContext(workspace):
        store.create_mcp_server_version({"name": name, "version": "1.0.0"})
        store.create_mcp_server_version({"name": name, "version": "2.0.0"})
        store.set_mcp_server_tag(name, "team", workspace)
        store.set_mcp_server_version_tag(name, "1.0.0", "reviewed", "yes")
        store.set_mcp_server_alias(name, "prod", "1.0.0")
        store.create_mcp_access_endpoint(name, f"https://{workspace}/a", server_alias="prod")
        store.create_mcp_access_endpoint(name, f"https://{workspace}/b", server_version="2.0.0")


def mcp_contents(side: Side, workspace: str) -> list:
    store = side.tracking
    with WorkspaceContext(workspace):
        servers = store.search_mcp_servers()
        return [
            [
                (
                    s.name,
                    s.workspace,
                    s.latest_version,
                    s.tags,
                    s.aliases,
                    sorted(e.url for e in s.access_endpoints),
                    [
                        (v.version, v.tags, v.aliases)
                        for v in store.search_mcp_server_versions(s.name)
                    ],
                )
                for s in servers
            ],
            sorted(
                (e.url, e.workspace)
                for e in store.search_mcp_access_endpoints(order_by=["created_at"])
            ),
        ]


def test_restrict_refuses_mcp_servers(sides):
    def scenario(side: Side) -> list:
        p, store = side.provider, side.tracking
        p.create_workspace(Workspace("team-a"))
        populate_mcp(side, "team-a")
        out = [attempt(lambda: p.delete_workspace("team-a", RESTRICT))]
        with WorkspaceContext("team-a"):
            store.delete_mcp_server("com.example/weather")
        p.delete_workspace("team-a", RESTRICT)
        out.append(sorted(w.name for w in p.list_workspaces()))
        return out

    compare(sides, scenario)


def test_cascade_removes_mcp_servers(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate_mcp(side, "team-a")
        populate_mcp(side, "default")
        p.delete_workspace("team-a", CASCADE)
        return [
            sorted(w.name for w in p.list_workspaces()),
            mcp_contents(side, "default"),
            p.create_workspace(Workspace("team-a")).name,
            mcp_contents(side, "team-a"),
        ]

    compare(sides, scenario)


def test_set_default_moves_mcp_servers(sides):
    def scenario(side: Side) -> list:
        p, store = side.provider, side.tracking
        p.create_workspace(Workspace("team-a"))
        populate_mcp(side, "team-a")
        populate_mcp(side, "default", name="io.github.acme/files")
        p.delete_workspace("team-a", SET_DEFAULT)
        with WorkspaceContext("default"):
            taken = attempt(lambda: store.create_mcp_server("com.example/weather"))
            moved = store.update_mcp_server_version(
                "com.example/weather", "1.0.0", status=MCPStatus.ACTIVE
            ).status
        return [
            sorted(w.name for w in p.list_workspaces()),
            mcp_contents(side, "default"),
            taken,
            moved,
            p.create_workspace(Workspace("team-a")).name,
            mcp_contents(side, "team-a"),
        ]

    compare(sides, scenario)


def test_set_default_preflight_refuses_mcp_name_conflicts(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate_mcp(side, "team-a")
        populate_mcp(side, "team-a", name="io.github.acme/files")
        populate_mcp(side, "default")
        return [
            attempt(lambda: p.delete_workspace("team-a", SET_DEFAULT)),
            sorted(w.name for w in p.list_workspaces()),
            mcp_contents(side, "team-a"),
            mcp_contents(side, "default"),
        ]

    compare(sides, scenario)
