"""Differential scenarios: users (create, get, list, authenticate, update, delete) and bad
input, on MLflow's auth SqlAlchemyStore (SQLite) and on DynamoDBAuthStore."""

from __future__ import annotations

import pytest

PW = "correct-horse-battery"
PW2 = "another-good-password"
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def create_get_list(s):
    s.create_user("alice", PW)
    s.create_user("bob", PW2, is_admin=True)
    s.get_user("alice")
    s.get_user("bob")
    s.has_user("alice")
    s.has_user("carol")
    s.list_users()
    s.authenticate_user("alice", PW)
    s.authenticate_user("alice", PW2)
    s.authenticate_user("carol", PW)
    s.authenticate_user("alice", "")


@scenario
def duplicate_user_uses_no_id(s):
    s.create_user("alice", PW)
    s.create_user("alice", PW2)
    s.create_user("bob", PW)
    s.list_users()
    s.authenticate_user("alice", PW)
    s.authenticate_user("alice", PW2)


@scenario
def bad_names_and_passwords(s):
    s.create_user("", PW)
    s.create_user(None, PW)
    s.create_user("short", "12345678901")
    s.create_user("empty", "")
    s.create_user("none", None)
    s.create_user("exactly-12", "123456789012")
    s.authenticate_user("exactly-12", "123456789012")
    s.list_users()


@scenario
def unicode_colon_space_and_long_values(s):
    names = ["Ünïcødé-用户", "a:b", "with space", "trailing ", "x" * 300, "长" * 700]
    for name in names:
        s.create_user(name, PW)
    for name in names:
        s.get_user(name)
        s.authenticate_user(name, PW)
    s.get_user("a")
    s.get_user("长" * 699)
    long_password = "p" * 10_000
    s.create_user("long-password", long_password)
    s.authenticate_user("long-password", long_password)
    s.authenticate_user("long-password", long_password[:-1])
    s.list_users()


@scenario
def update_password_and_admin(s):
    s.create_user("alice", PW)
    s.update_user("alice", password=PW2)
    s.authenticate_user("alice", PW)
    s.authenticate_user("alice", PW2)
    s.update_user("alice", is_admin=True)
    s.get_user("alice")
    s.update_user("alice", password="short")
    s.authenticate_user("alice", PW2)
    s.update_user("alice")
    s.update_user("nobody", password=PW)
    s.update_user("nobody", password="short")
    s.update_user("alice", is_admin=False)
    s.get_user("alice")


@scenario
def delete_user_drops_grants_and_roles(s):
    alice = s.create_user("alice", PW)
    bob = s.create_user("bob", PW)
    s.create_experiment_permission("1", "alice", "EDIT")
    s.create_registered_model_permission("m", "alice", "READ")
    s.create_experiment_permission("1", "bob", "READ")
    role = s.create_role("team", "default", None)
    s.assign_role_to_user(alice.id, role.id)
    s.assign_role_to_user(bob.id, role.id)
    s.delete_user("alice")
    s.get_user("alice")
    s.authenticate_user("alice", PW)
    s.list_experiment_permissions("alice")
    s.list_experiment_permissions("bob")
    s.list_role_users(role.id)
    s.list_roles()
    s.list_user_roles(alice.id)
    s.delete_user("alice")
    s.create_user("carol", PW)
    s.list_users()
    s.create_experiment_permission("1", "carol", "MANAGE")
    s.list_roles()


@pytest.mark.parametrize("name", SCENARIOS)
def test_users(compare, name):
    compare(SCENARIOS[name])
