"""Differential scenarios: roles, role permissions, assignments and workspace permissions,
on MLflow's auth SqlAlchemyStore (SQLite) and on DynamoDBAuthStore."""

from __future__ import annotations

import pytest
from mlflow.utils.workspace_context import WorkspaceContext

PW = "correct-horse-battery"
SCENARIOS = {}
WORKSPACE_SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def workspace_scenario(fn):
    WORKSPACE_SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def role_crud(s):
    s.create_role("viewers", "default", "read only")
    s.create_role("viewers", "default", "again")
    s.create_role("viewers", "team-a", None)
    s.create_role("__user_1__", "default", None)
    s.create_role("__user_anything", "default", None)
    s.create_role("", "default", None)
    s.get_role(1)
    s.get_role(99)
    s.get_role_by_name("default", "viewers")
    s.get_role_by_name("team-a", "nope")
    s.list_roles()
    s.list_roles(["team-a"])
    s.list_roles([])
    s.list_roles(["default", "team-a", "default"])
    s.update_role(1, name="readers")
    s.update_role(1, description="renamed")
    s.update_role(1, name="readers")
    s.create_role("writers", "default", None)
    s.update_role(1, name="writers")
    s.update_role(1, name="__user_9__")
    s.update_role(99, name="x")
    s.get_role_by_name("default", "viewers")
    s.get_role_by_name("default", "readers")
    s.create_role("viewers", "default", "name free again")
    s.delete_role(2)
    s.delete_role(2)
    s.get_role(2)
    s.list_roles()


@scenario
def role_permissions(s):
    role = s.create_role("r", "default", None)
    s.add_role_permission(role.id, "experiment", "*", "READ")
    s.add_role_permission(role.id, "experiment", "*", "EDIT")
    s.add_role_permission(role.id, "experiment", "12", "DENY")
    s.add_role_permission(role.id, "workspace", "*", "USE")
    s.add_role_permission(role.id, "workspace", "*", "MANAGE")
    s.add_role_permission(role.id, "workspace", "x", "USE")
    s.add_role_permission(role.id, "workspace", "*", "READ")
    s.add_role_permission(role.id, "run", "r1", "READ")
    s.add_role_permission(role.id, "trace", "*", "EDIT")
    s.add_role_permission(role.id, "bogus", "*", "READ")
    s.add_role_permission(role.id, "experiment", "3", "NO_PERMISSIONS")
    s.add_role_permission(99, "experiment", "*", "READ")
    s.get_role_permission(1)
    s.get_role_permission(99)
    s.update_role_permission(1, "MANAGE")
    s.update_role_permission(3, "EDIT")  # the workspace slot takes USE or MANAGE only
    s.update_role_permission(99, "READ")
    s.list_role_permissions(role.id)
    s.list_role_permissions(99)
    s.remove_role_permission(2)
    s.remove_role_permission(2)
    s.get_role(role.id)
    s.add_role_permission(role.id, "experiment", "12", "READ")


@scenario
def assignments(s):
    alice = s.create_user("alice", PW)
    bob = s.create_user("bob", PW)
    a = s.create_role("a", "default", None)
    b = s.create_role("b", "team-b", None)
    s.add_role_permission(b.id, "workspace", "*", "MANAGE")
    s.assign_role_to_user(alice.id, a.id)
    s.assign_role_to_user(alice.id, a.id)
    s.assign_role_to_user(alice.id, b.id)
    s.assign_role_to_user(bob.id, b.id)
    s.assign_role_to_user(99, a.id)
    s.assign_role_to_user(alice.id, 99)
    s.list_user_roles(alice.id)
    s.list_user_roles(99)
    s.list_user_roles_for_workspace(alice.id, "team-b")
    s.user_has_any_role_in_workspace(alice.id, "team-b")
    s.user_has_any_role_in_workspace(bob.id, "default")
    s.list_user_present_workspaces(alice.id)
    s.list_role_users(b.id)
    s.list_role_users(99)
    s.list_users_with_roles()
    s.is_workspace_admin(alice.id, "team-b")
    s.list_workspace_admin_workspaces(bob.id)
    s.is_workspace_admin_of_any_of_users_workspaces(bob.id, alice.id)
    s.is_workspace_admin_of_any_of_users_workspaces(alice.id, bob.id)
    s.unassign_role_from_user(alice.id, a.id)
    s.unassign_role_from_user(alice.id, a.id)
    s.unassign_role_from_user(alice.id, 99)
    s.list_user_roles(alice.id)
    s.delete_role(b.id)
    s.list_user_roles(bob.id)
    s.list_user_present_workspaces(alice.id)
    s.delete_roles_for_workspace("default")
    s.list_roles()


@workspace_scenario
def workspace_permissions(s):
    alice = s.create_user("alice", PW)
    s.create_user("bob", PW)
    s.set_workspace_permission("team-a", "alice", "USE")
    s.set_workspace_permission("team-a", "alice", "MANAGE")
    s.set_workspace_permission("team-a", "alice", "READ")
    s.set_workspace_permission("team-b", "bob", "USE")
    s.set_workspace_permission("team-a", "nobody", "USE")
    s.list_workspace_permissions("team-a")
    s.list_workspace_permissions("team-c")
    s.list_user_workspace_permissions("alice")
    s.get_workspace_permission("team-a", "alice")
    s.get_workspace_permission("team-b", "alice")
    s.get_role_workspace_permission("team-a", "alice")
    s.list_accessible_workspace_names("alice")
    s.list_accessible_workspace_names("bob")
    s.list_accessible_workspace_names(None)
    s.is_workspace_admin(alice.id, "team-a")
    members = s.create_role("members", "team-c", None)
    s.assign_role_to_user(alice.id, members.id)
    s.list_accessible_workspace_names("alice")
    s.delete_workspace_permission("team-a", "alice")
    s.delete_workspace_permission("team-a", "alice")
    s.list_accessible_workspace_names("alice")
    s.delete_workspace_permissions_for_workspace("team-b")
    s.list_user_workspace_permissions("bob")
    s.list_accessible_workspace_names("bob")


@workspace_scenario
def grants_per_workspace(s):
    s.create_user("alice", PW)
    s.create_experiment_permission("1", "alice", "READ")  # no active workspace
    with WorkspaceContext("team-a"):
        s.create_experiment_permission("1", "alice", "READ")
        s.create_registered_model_permission("m", "alice", "EDIT")
        s.grant_user_permission("alice", "experiment", "2", "MANAGE")
    with WorkspaceContext("team-b"):
        s.create_experiment_permission("1", "alice", "EDIT")
        s.create_registered_model_permission("m", "alice", "READ")
        s.get_experiment_permission("2", "alice")
        s.list_experiment_permissions("alice")
        s.list_registered_model_permissions("alice")
        s.list_all_registered_model_permissions("alice")
        s.delete_grants_for_resource("registered_model", "m", workspace_scoped=True)
        s.list_all_registered_model_permissions("alice")
    with WorkspaceContext("team-a"):
        s.get_registered_model_permission("m", "alice")
        s.delete_grants_for_resource("experiment", "1")
        s.list_experiment_permissions("alice")
    s.list_roles()


@pytest.mark.parametrize("name", SCENARIOS)
def test_roles(compare, name):
    compare(SCENARIOS[name])


@pytest.mark.parametrize("name", WORKSPACE_SCENARIOS)
def test_workspaces(compare, name):
    compare(WORKSPACE_SCENARIOS[name], workspaces=True)
