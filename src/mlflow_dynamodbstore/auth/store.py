"""The auth store MLflow's basic-auth app talks to, kept in the DynamoDB table.

Same methods, entities (``mlflow.server.auth.entities``), validation and MlflowException
codes and messages as MLflow 3.17's ``mlflow.server.auth.sqlalchemy_store.SqlAlchemyStore``,
with two deliberate differences: no message carries a password hash (the SQL store's
duplicate-user error quotes the INSERT, hash included), and ids are never reused after a
delete (SQLite reuses the highest id; PostgreSQL and MySQL do not).

This module holds users, roles, role permissions, assignments and permission resolution;
per-user grants (the ``__user_<id>__`` roles) are in ``grants.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable
from typing import Any

from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.server.auth.entities import Role, RolePermission, User, UserRoleAssignment
from mlflow.server.auth.permissions import (
    DENY,
    MANAGE,
    RESOURCE_TYPE_WORKSPACE,
    Permission,
    _validate_permission_for_resource_type,
    _validate_resource_pattern,
    _validate_resource_type,
    get_permission,
    max_permission,
)
from mlflow.server.auth.sqlalchemy_store import RoleGrantRow
from mlflow.utils import workspace_context
from mlflow.utils.validation import _validate_password, _validate_username
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME
from werkzeug.security import check_password_hash, generate_password_hash

from mlflow_dynamodbstore.auth.resource_grants import ResourceGrantsMixin
from mlflow_dynamodbstore.repositories.auth import grants as grant_names
from mlflow_dynamodbstore.repositories.auth import ids
from mlflow_dynamodbstore.repositories.auth.grants import GrantRepository
from mlflow_dynamodbstore.repositories.auth.ids import IdsBusy
from mlflow_dynamodbstore.repositories.auth.roles import (
    AssignmentExists,
    AssignmentMissing,
    PermissionExists,
    RoleExists,
    RoleMissing,
    RoleRepository,
    UserGone,
)
from mlflow_dynamodbstore.repositories.auth.users import UserExists, UserMissing, UserRepository
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors

Item = dict[str, Any]
SCHEME = "dynamodb://"


def as_id(value: Any) -> int | None:
    """An id as MLflow's handlers pass it (int or digit string); None when it cannot name a
    row (the SQL store then finds nothing)."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def user_entity(item: Item) -> User:
    return User(
        id_=int(item["user_id"]),
        username=item["username"],
        password_hash=item["password_hash"],
        is_admin=bool(item["is_admin"]),
    )


def permission_entity(item: Item) -> RolePermission:
    return RolePermission(
        id_=int(item["role_permission_id"]),
        role_id=int(item["role_id"]),
        resource_type=item["resource_type"],
        resource_pattern=item["resource_pattern"],
        permission=item["permission"],
    )


def role_entity(meta: Item, permissions: Iterable[Item]) -> Role:
    return Role(
        id_=int(meta["role_id"]),
        name=meta["name"],
        workspace=meta["workspace"],
        description=meta.get("description"),
        permissions=[permission_entity(p) for p in permissions],
    )


def _not_found(message: str) -> MlflowException:
    return MlflowException(message, RESOURCE_DOES_NOT_EXIST)


def _busy(what: str) -> MlflowException:
    return MlflowException(
        f"Too many concurrent changes to {what}; try again.", TEMPORARILY_UNAVAILABLE
    )


# As the other stores: throttling or timeouts that outlast the retries answer
# TEMPORARILY_UNAVAILABLE (503), what DynamoDB refuses INVALID_PARAMETER_VALUE naming the
# largest value, never a 500 with a botocore traceback.
@translate_gateway_errors
class DynamoDBAuthStore(ResourceGrantsMixin):
    def __init__(self, store_uri: str | None = None):
        self.db_uri: str | None = None
        if store_uri is not None:
            self.init_db(store_uri)

    # ---- wiring ----------------------------------------------------------------------
    def init_db(self, db_uri: str, read_db_uri: str | None = None) -> None:
        """Connect to the table (provisioning it if needed). MLflow's app calls this with
        the config's ``database_uri``, which the dynamodb-auth app resolves to a
        ``dynamodb://`` URI (auth/config.py); ``read_db_uri`` has no meaning here."""
        if not isinstance(db_uri, str) or not db_uri.startswith(SCHEME):
            raise MlflowException.invalid_parameter_value(
                "The dynamodb-auth store keeps users and permissions in the DynamoDB table: its "
                f"database_uri must be a dynamodb:// URI, not {db_uri!r}."
            )
        if self.db_uri == db_uri:
            return
        from mlflow_dynamodbstore.stores.connection import connect

        self.connection = connect(db_uri, serve_while_unavailable=True)
        self.gateway = self.connection.gateway
        self.users = UserRepository(self.gateway)
        self.roles = RoleRepository(self.gateway)
        self.grants = GrantRepository(self.gateway, self.roles)
        self.db_uri = db_uri

    @classmethod
    def _get_active_workspace_name(cls) -> str:
        if not MLFLOW_ENABLE_WORKSPACES.get():
            return DEFAULT_WORKSPACE_NAME
        if workspace_name := workspace_context.get_request_workspace():
            return workspace_name
        raise MlflowException.invalid_parameter_value(
            "Active workspace is required. Configure a default workspace or call "
            "mlflow.set_workspace() before interacting with the authentication store."
        )

    # ---- users -----------------------------------------------------------------------
    def _lookup(self, username: str) -> Item | None:
        """The user record; within one HTTP request it is read once, since MLflow's hooks
        ask for the requesting user several times (authenticate, get_user, each check)."""
        if not isinstance(username, str):
            return None
        memo = _request_memo()
        if memo is not None and username in memo:
            return memo[username]
        item = self.users.get(username)
        if memo is not None:
            memo[username] = item
        return item

    @staticmethod
    def _forget(username: str) -> None:
        memo = _request_memo()
        if memo is not None:
            memo.pop(username, None)

    def _user_item(self, username: str) -> Item:
        item = self._lookup(username)
        if item is None:
            raise _not_found(f"User with username={username} not found")
        return item

    def authenticate_user(self, username: str, password: str, *, use_primary: bool = False) -> bool:
        try:
            item = self._user_item(username)
            return check_password_hash(item["password_hash"], password)
        except (MlflowException, TypeError, ValueError):
            return False

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        _validate_username(username)
        _validate_password(password)
        if not isinstance(username, str) or not isinstance(password, str):
            raise MlflowException.invalid_parameter_value("Username and password must be strings.")
        pwhash = generate_password_hash(password)
        try:
            self._forget(username)
            item = self.users.create(username, pwhash, _as_bool(is_admin))
        except UserExists:
            # The SQL store appends the failed INSERT here, password hash included.
            raise MlflowException(
                f"User (username={username}) already exists.", RESOURCE_ALREADY_EXISTS
            ) from None
        except IdsBusy:
            raise _busy("users") from None
        return user_entity(item)

    def has_user(self, username: str, *, use_primary: bool = False) -> bool:
        return self._lookup(username) is not None

    def get_user(self, username: str) -> User:
        return user_entity(self._user_item(username))

    def list_users(self) -> list[User]:
        return [user_entity(i) for i in sorted(self.users.list(), key=_user_id)]

    def list_users_with_roles(self) -> list[tuple[User, list[Role]]]:
        cache: dict[int, Role | None] = {}
        out = []
        for item in sorted(self.users.list(), key=_user_id):
            out.append((user_entity(item), self._roles_of(int(item["user_id"]), None, cache)))
        return out

    def update_user(
        self, username: str, password: str | None = None, is_admin: bool | None = None
    ) -> User:
        item = self._user_item(username)
        fields: dict[str, Any] = {}
        if password is not None:
            _validate_password(password)
            if not isinstance(password, str):
                raise MlflowException.invalid_parameter_value("Password must be a string.")
            fields["password_hash"] = generate_password_hash(password)
        if is_admin is not None:
            fields["is_admin"] = _as_bool(is_admin)
        if not fields:
            return user_entity(item)
        try:
            self._forget(username)
            return user_entity(self.users.update(username, fields))
        except UserMissing:
            raise _not_found(f"User with username={username} not found") from None

    def delete_user(self, username: str) -> None:
        """Delete the user's ``__user_<id>__`` roles (their grants), the user's other
        assignments, then the user. Children first: deleting again finishes a deletion that
        stopped half way."""
        item = self._user_item(username)
        user_id = int(item["user_id"])
        for assignment in self.roles.user_assignments(user_id):
            role_id = int(assignment["role_id"])
            if assignment.get("synthetic"):
                with contextlib.suppress(RoleMissing):
                    self.roles.delete(role_id)
            else:
                meta = {"role_id": role_id, "workspace": assignment["workspace"]}
                with contextlib.suppress(AssignmentMissing):
                    self.roles.unassign(user_id, meta)
        self._forget(username)
        self.gateway.transact_write(self.users.delete_actions(item))

    # ---- roles -----------------------------------------------------------------------
    @staticmethod
    def _reject_synthetic_role_name(name: str) -> None:
        if isinstance(name, str) and name.startswith(grant_names.SYNTHETIC_PREFIX):
            raise MlflowException.invalid_parameter_value(
                f"Role name {name!r} uses the reserved '__user_' prefix, which "
                "is held for the per-user permission representation. Choose a "
                "different name."
            )

    def _role(self, role_id: Any):
        role = None if (rid := as_id(role_id)) is None else self.roles.get(rid)
        if role is None:
            raise _not_found(f"Role with id={role_id} not found")
        return role

    def _roles_of(
        self, user_id: int, workspace: str | None, cache: dict[int, Role | None] | None = None
    ) -> list[Role]:
        cache = {} if cache is None else cache
        out = []
        for assignment in self.roles.user_assignments(user_id, workspace):
            role_id = int(assignment["role_id"])
            if role_id not in cache:
                found = self.roles.get(role_id)
                cache[role_id] = found and role_entity(found.meta, found.permissions)
            if cache[role_id] is not None:
                out.append(cache[role_id])
        return out

    def create_role(self, name: str, workspace: str, description: str | None = None) -> Role:
        self._reject_synthetic_role_name(name)
        try:
            role_id = self.roles.create(name, workspace, description)[ids.ROLE]
        except RoleExists:
            raise MlflowException(
                f"Role (name={name}, workspace={workspace}) already exists.",
                RESOURCE_ALREADY_EXISTS,
            ) from None
        except IdsBusy:
            raise _busy("roles") from None
        return Role(id_=role_id, name=name, workspace=workspace, description=description)

    def get_role(self, role_id: int) -> Role:
        role = self._role(role_id)
        return role_entity(role.meta, role.permissions)

    def get_role_by_name(self, workspace: str, name: str) -> Role:
        role_id = self.roles.id_by_name(workspace, name)
        role = None if role_id is None else self.roles.get(role_id)
        if role is None:
            raise _not_found(f"Role with name={name} in workspace={workspace} not found")
        return role_entity(role.meta, role.permissions)

    def list_roles(self, workspaces: Iterable[str] | None = None) -> list[Role]:
        if workspaces is None:
            role_ids = self.roles.all_ids()
        else:
            # Workspace by workspace (in name order), as SQLite's workspace index returns them.
            role_ids = [
                r for ws in sorted(set(workspaces)) for r in self.roles.ids_in_workspace(ws)
            ]
        out = []
        for role_id in role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                out.append(role_entity(role.meta, role.permissions))
        return out

    def update_role(
        self, role_id: int, name: str | None = None, description: str | None = None
    ) -> Role:
        if name is not None:
            self._reject_synthetic_role_name(name)
        role = self._role(role_id)
        meta = role.meta
        try:
            if name is not None and name != meta["name"]:
                self.roles.rename(meta, name, description)
            elif name is not None or description is not None:
                fields = {"description": description} if description is not None else {}
                if fields:
                    self.roles.set_fields(role.role_id, fields)
        except RoleExists:
            raise MlflowException(
                f"Role with name={name} already exists in workspace={role.workspace}",
                RESOURCE_ALREADY_EXISTS,
            ) from None
        except RoleMissing:
            raise _not_found(f"Role with id={role_id} not found") from None
        return self.get_role(role.role_id)

    def delete_role(self, role_id: int) -> None:
        role = self._role(role_id)
        try:
            self.roles.delete(role.role_id)
        except RoleMissing:
            raise _not_found(f"Role with id={role_id} not found") from None

    def delete_roles_for_workspace(self, workspace_name: str) -> None:
        for role_id in self.roles.ids_in_workspace(workspace_name):
            with contextlib.suppress(RoleMissing):
                self.roles.delete(role_id)

    # ---- role permissions ------------------------------------------------------------
    def add_role_permission(
        self, role_id: int, resource_type: str, resource_pattern: str, permission: str
    ) -> RolePermission:
        _validate_permission_for_resource_type(permission, resource_type)
        _validate_resource_pattern(resource_pattern, resource_type)
        role = self._role(role_id)
        try:
            item = self.roles.add_permission(role.meta, resource_type, resource_pattern, permission)
        except PermissionExists:
            raise MlflowException(
                f"Role permission (role_id={role_id}, resource_type={resource_type}, "
                f"resource_pattern={resource_pattern}) already exists.",
                RESOURCE_ALREADY_EXISTS,
            ) from None
        except RoleMissing:
            raise _not_found(f"Role with id={role_id} not found") from None
        except IdsBusy:
            raise _busy("role permissions") from None
        return permission_entity(item)

    def _role_permission(self, role_permission_id: Any) -> Item:
        rid = as_id(role_permission_id)
        item = None if rid is None else self.roles.permission_by_id(rid)
        if item is None:
            raise _not_found(f"Role permission with id={role_permission_id} not found")
        return item

    def get_role_permission(self, role_permission_id: int) -> RolePermission:
        return permission_entity(self._role_permission(role_permission_id))

    def remove_role_permission(self, role_permission_id: int) -> None:
        self.roles.remove_permission(self._role_permission(role_permission_id))

    def list_role_permissions(self, role_id: int) -> list[RolePermission]:
        return [permission_entity(p) for p in self._role(role_id).permissions]

    def update_role_permission(self, role_permission_id: int, permission: str) -> RolePermission:
        item = self._role_permission(role_permission_id)
        _validate_permission_for_resource_type(permission, item["resource_type"])
        try:
            return permission_entity(self.roles.set_permission(item, permission))
        except RoleMissing:
            raise _not_found(f"Role permission with id={role_permission_id} not found") from None

    # ---- assignments -----------------------------------------------------------------
    def assign_role_to_user(self, user_id: int, role_id: int) -> UserRoleAssignment:
        uid = as_id(user_id)
        if uid is None or self.users.get_by_id(uid) is None:
            raise _not_found(f"User with id={user_id} not found")
        role = self._role(role_id)
        try:
            assignment_id = self.roles.assign(uid, role.meta)
        except AssignmentExists:
            raise MlflowException(
                f"User role assignment (user_id={user_id}, role_id={role_id}) already exists",
                RESOURCE_ALREADY_EXISTS,
            ) from None
        except RoleMissing:
            raise _not_found(f"Role with id={role_id} not found") from None
        except UserGone:
            raise _not_found(f"User with id={user_id} not found") from None
        except IdsBusy:
            raise _busy("role assignments") from None
        return UserRoleAssignment(id_=assignment_id, user_id=uid, role_id=role.role_id)

    def unassign_role_from_user(self, user_id: int, role_id: int) -> None:
        uid, rid = as_id(user_id), as_id(role_id)
        meta = None if uid is None or rid is None else self.roles.get_meta(rid)
        try:
            if meta is None:
                raise AssignmentMissing(user_id, role_id)
            self.roles.unassign(uid, meta)
        except AssignmentMissing:
            raise _not_found(
                f"User role assignment (user_id={user_id}, role_id={role_id}) not found"
            ) from None

    def list_user_roles(self, user_id: int) -> list[Role]:
        uid = as_id(user_id)
        return [] if uid is None else self._roles_of(uid, None)

    def list_user_roles_for_workspace(self, user_id: int, workspace: str) -> list[Role]:
        uid = as_id(user_id)
        return [] if uid is None else self._roles_of(uid, workspace)

    def user_has_any_role_in_workspace(self, user_id: int, workspace: str) -> bool:
        uid = as_id(user_id)
        return uid is not None and self.roles.has_assignment_in(uid, workspace)

    def list_user_present_workspaces(self, user_id: int) -> set[str]:
        uid = as_id(user_id)
        return set() if uid is None else {a["workspace"] for a in self.roles.user_assignments(uid)}

    def list_role_users(self, role_id: int) -> list[UserRoleAssignment]:
        role = self._role(role_id)
        return [
            UserRoleAssignment(
                id_=int(m["assignment_id"]), user_id=int(m["user_id"]), role_id=role.role_id
            )
            for m in self.roles.members(role.role_id)
        ]

    # ---- permission resolution (the request path) -------------------------------------
    def _grant_rows(self, user_id: int, workspace: str, types: set[str]) -> list[Item]:
        """The permissions of ``types`` on the user's roles in the workspace: one Query for
        the roles, then one per (role, type)."""
        rows: list[Item] = []
        for assignment in self.roles.user_assignments(user_id, workspace):
            rows.extend(self.roles.permissions(int(assignment["role_id"]), types))
        return rows

    def get_role_permission_for_resource(
        self, user_id: int, resource_type: str, resource_id: str, workspace: str
    ) -> Permission | None:
        uid = as_id(user_id)
        if uid is None:
            return None
        rows = self._grant_rows(uid, workspace, {resource_type, RESOURCE_TYPE_WORKSPACE})
        best: str | None = None
        denied = workspace_admin = False
        for rp in rows:
            kind, pattern, perm = rp["resource_type"], rp["resource_pattern"], rp["permission"]
            if kind == RESOURCE_TYPE_WORKSPACE and pattern == "*":
                if resource_type == RESOURCE_TYPE_WORKSPACE or perm == MANAGE.name:
                    workspace_admin = workspace_admin or perm == MANAGE.name
                    best = perm if best is None else max_permission(best, perm)
                continue
            if kind != resource_type:
                continue
            if pattern in ("*", resource_id):
                if perm == DENY.name:
                    denied = True
                    continue
                best = perm if best is None else max_permission(best, perm)
        if denied and not workspace_admin:
            return DENY
        return None if best is None else get_permission(best)

    def list_grants(
        self, user_id: int, workspace: str, resource_types: Collection[str]
    ) -> list[RoleGrantRow]:
        types = set(resource_types)
        for resource_type in types:
            _validate_resource_type(resource_type)
        types.add(RESOURCE_TYPE_WORKSPACE)
        uid = as_id(user_id)
        if uid is None:
            return []
        return [
            RoleGrantRow(r["resource_type"], r["resource_pattern"], r["permission"])
            for r in self._grant_rows(uid, workspace, types)
        ]

    def list_role_grants_for_user_in_workspace(
        self, user_id: int, workspace: str, resource_type: str
    ) -> list[tuple[str, str]]:
        _validate_resource_type(resource_type)
        uid = as_id(user_id)
        if uid is None:
            return []
        rows = self._grant_rows(uid, workspace, {resource_type, RESOURCE_TYPE_WORKSPACE})
        return [
            (r["resource_pattern"], r["permission"])
            for r in rows
            if r["resource_type"] == resource_type
            or (r["resource_type"] == RESOURCE_TYPE_WORKSPACE and r["resource_pattern"] == "*")
        ]

    def _admin_workspaces(self, user_id: int, workspace: str | None = None) -> set[str]:
        """Workspaces where one of the user's roles holds ``(workspace, *, MANAGE)``: one
        Query and one BatchGetItem."""
        assignments = self.roles.user_assignments(user_id, workspace)
        slots = self.roles.workspace_slots(int(a["role_id"]) for a in assignments)
        return {
            a["workspace"]
            for a in assignments
            if slots.get(int(a["role_id"]), {}).get("permission") == MANAGE.name
        }

    def is_workspace_admin(self, user_id: int, workspace: str) -> bool:
        uid = as_id(user_id)
        return uid is not None and workspace in self._admin_workspaces(uid, workspace)

    def list_workspace_admin_workspaces(self, user_id: int) -> set[str]:
        uid = as_id(user_id)
        return set() if uid is None else self._admin_workspaces(uid)

    def is_workspace_admin_of_any_of_users_workspaces(
        self, admin_user_id: int, target_user_id: int
    ) -> bool:
        admin_workspaces = self.list_workspace_admin_workspaces(admin_user_id)
        if not admin_workspaces:
            return False
        return bool(admin_workspaces & self.list_user_present_workspaces(target_user_id))


def _user_id(item: Item) -> int:
    return int(item["user_id"])


def _as_bool(value: Any) -> bool:
    """``is_admin`` as MLflow's Boolean column takes it (bool, or 0/1); anything else is bad
    input (the SQL store fails on it with a 500)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise MlflowException.invalid_parameter_value(f"is_admin must be a boolean, not {value!r}.")


def _request_memo() -> dict[str, Item | None] | None:
    """Per-request memo of user records (Flask's ``g``: one request, one thread), or None
    outside a request (CLI, tests): then every call reads the table."""
    from flask import g, has_request_context

    if not has_request_context():
        return None
    return g.setdefault("_dynamodb_auth_users", {})
