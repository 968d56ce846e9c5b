"""Differential scenarios: per-user grants (the per-resource methods of each resource type,
the unified grant API, deleting and renaming grants with their resource) and how they
resolve, on MLflow's auth SqlAlchemyStore (SQLite) and on DynamoDBAuthStore."""

from __future__ import annotations

import pytest

PW = "correct-horse-battery"
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def _family(s, create, get, list_, update, delete, key):
    """The same calls on one resource type's per-resource methods; ``key`` is the resource
    id argument(s)."""
    s.create_user("alice", PW)
    s.create_user("bob", PW)
    create(*key, "alice", "READ")
    get(*key, "alice")
    list_("alice")
    create(*key, "alice", "EDIT")  # duplicate
    create(*key, "bob", "NO_PERMISSIONS")  # not grantable on a resource
    create(*key, "bob", "BOGUS")
    create(*key, "nobody", "READ")
    create(*key, "bob", "DENY")
    update(*key, "alice", "MANAGE")
    update(*key, "alice", "BOGUS")
    update(*key, "carol", "READ")
    get(*key, "alice")
    get(*key, "bob")
    list_("bob")
    list_("nobody")
    delete(*key, "alice")
    delete(*key, "alice")
    get(*key, "alice")
    list_("alice")


@scenario
def experiments(s):
    _family(
        s, s.create_experiment_permission, s.get_experiment_permission,
        s.list_experiment_permissions, s.update_experiment_permission,
        s.delete_experiment_permission, ("7",),
    )  # fmt: skip


@scenario
def registered_models(s):
    _family(
        s, s.create_registered_model_permission, s.get_registered_model_permission,
        s.list_registered_model_permissions, s.update_registered_model_permission,
        s.delete_registered_model_permission, ("model/with:odd chars",),
    )  # fmt: skip
    s.list_all_registered_model_permissions("bob")


@scenario
def scorers(s):
    _family(
        s, s.create_scorer_permission, s.get_scorer_permission, s.list_scorer_permissions,
        s.update_scorer_permission, s.delete_scorer_permission, ("3", "my/scorer ü"),
    )  # fmt: skip


@scenario
def gateway_secrets(s):
    _family(
        s, s.create_gateway_secret_permission, s.get_gateway_secret_permission,
        s.list_gateway_secret_permissions, s.update_gateway_secret_permission,
        s.delete_gateway_secret_permission, ("s-1",),
    )  # fmt: skip


@scenario
def gateway_endpoints(s):
    _family(
        s, s.create_gateway_endpoint_permission, s.get_gateway_endpoint_permission,
        s.list_gateway_endpoint_permissions, s.update_gateway_endpoint_permission,
        s.delete_gateway_endpoint_permission, ("e-1",),
    )  # fmt: skip


@scenario
def gateway_model_definitions(s):
    _family(
        s, s.create_gateway_model_definition_permission,
        s.get_gateway_model_definition_permission,
        s.list_gateway_model_definition_permissions,
        s.update_gateway_model_definition_permission,
        s.delete_gateway_model_definition_permission, ("md-1",),
    )  # fmt: skip


@scenario
def mcp_servers(s):
    _family(
        s, s.create_mcp_server_permission, s.get_mcp_server_permission,
        s.list_mcp_server_permissions, s.update_mcp_server_permission,
        s.delete_mcp_server_permission, ("mcp-1",),
    )  # fmt: skip


@scenario
def unified_grant_api(s):
    alice = s.create_user("alice", PW)
    s.grant_user_permission("alice", "experiment", "1", "MANAGE")
    s.grant_user_permission("alice", "experiment", "1", "READ")  # upsert
    s.grant_user_permission("alice", "experiment", "*", "READ")
    s.grant_user_permission("alice", "run", "1", "READ")  # sub-resources: wildcard only
    s.grant_user_permission("alice", "run", "*", "EDIT")
    s.grant_user_permission("alice", "nonsense", "1", "READ")
    s.grant_user_permission("alice", "workspace", "*", "READ")
    s.grant_user_permission("nobody", "experiment", "1", "READ")
    s.grant_user_resource_permission("alice", "registered_model", "m", "EDIT")
    s.grant_user_resource_permission("alice", "registered_model", "m", "EDIT")
    s.grant_user_resource_permission("alice", "workspace", "*", "USE")
    s.grant_user_resource_permission("alice", "prompt", "p", "DENY")
    s.revoke_user_resource_permission("alice", "registered_model", "m")
    s.revoke_user_resource_permission("alice", "registered_model", "m")
    s.revoke_user_resource_permission("alice", "workspace", "*")
    s.revoke_user_resource_permission("alice", "bogus", "x")
    s.revoke_user_resource_permission("nobody", "experiment", "1")
    s.list_user_roles(alice.id)
    s.list_grants(alice.id, "default", {"experiment"})
    s.list_grants(alice.id, "default", {"run", "prompt"})
    s.list_grants(alice.id, "default", {"bogus"})
    s.list_grants(alice.id, "other", {"experiment"})
    s.list_role_grants_for_user_in_workspace(alice.id, "default", "experiment")
    s.list_role_grants_for_user_in_workspace(alice.id, "default", "bogus")
    s.get_role_permission_for_resource(alice.id, "experiment", "1", "default")
    s.get_role_permission_for_resource(alice.id, "experiment", "2", "default")
    s.get_role_permission_for_resource(alice.id, "prompt", "p", "default")
    s.get_role_permission_for_resource(alice.id, "registered_model", "m", "default")


@scenario
def deny_and_workspace_admin_resolution(s):
    alice = s.create_user("alice", PW)
    editors = s.create_role("editors", "default", "can edit")
    s.add_role_permission(editors.id, "experiment", "*", "EDIT")
    s.assign_role_to_user(alice.id, editors.id)
    s.grant_user_permission("alice", "experiment", "5", "DENY")
    s.get_role_permission_for_resource(alice.id, "experiment", "5", "default")
    s.get_role_permission_for_resource(alice.id, "experiment", "6", "default")
    s.is_workspace_admin(alice.id, "default")
    admins = s.create_role("admins", "default", None)
    s.add_role_permission(admins.id, "workspace", "*", "MANAGE")
    s.assign_role_to_user(alice.id, admins.id)
    s.get_role_permission_for_resource(alice.id, "experiment", "5", "default")
    s.get_role_permission_for_resource(alice.id, "workspace", "*", "default")
    s.is_workspace_admin(alice.id, "default")
    s.list_workspace_admin_workspaces(alice.id)
    s.list_grants(alice.id, "default", {"experiment"})


@scenario
def delete_and_rename_with_the_resource(s):
    s.create_user("alice", PW)
    s.create_user("bob", PW)
    s.grant_user_permission("alice", "experiment", "9", "MANAGE")
    s.grant_user_permission("bob", "experiment", "9", "READ")
    s.grant_user_permission("alice", "experiment", "10", "READ")
    s.grant_user_permission("alice", "registered_model", "m", "MANAGE")
    s.grant_user_permission("bob", "registered_model", "m", "EDIT")
    s.grant_user_permission("bob", "registered_model", "taken", "READ")
    shared = s.create_role("shared", "default", None)
    s.add_role_permission(shared.id, "experiment", "9", "READ")
    s.add_role_permission(shared.id, "registered_model", "m", "READ")
    s.delete_grants_for_resource("experiment", "9")
    s.list_experiment_permissions("alice")
    s.list_experiment_permissions("bob")
    s.list_role_permissions(shared.id)
    s.rename_grants_for_resource("registered_model", "m", "m2", workspace_scoped=True)
    s.list_registered_model_permissions("alice")
    s.list_registered_model_permissions("bob")
    s.get_registered_model_permission("m2", "alice")
    s.get_registered_model_permission("m", "alice")
    s.list_role_permissions(shared.id)
    s.delete_grants_for_resource("registered_model", "m2", workspace_scoped=True)
    s.delete_grants_for_resource("registered_model", "never-granted")
    s.list_registered_model_permissions("alice")
    s.grant_user_permission("alice", "registered_model", "m2", "READ")
    s.list_registered_model_permissions("alice")


@pytest.mark.parametrize("name", SCENARIOS)
def test_grants(compare, name):
    compare(SCENARIOS[name])
