"""Auth roles: the role item, its name guard, its permissions and its members.

One partition per role (``ROLE#<id>``): META (name, workspace, description), one item per
permission (sort key ``P#<type>#<pattern>``: the SQL store's unique (role, type, pattern)
is the key itself) and one item per member (``U#<user id>``). Each assignment also has an
item in the user's partition (``USER#<id>`` / ``ROLE#<workspace>#<role id>``), so a
permission check reads the user's roles of one workspace with one Query and then each
role's permissions of the types it needs. Permission ids (the REST API addresses them by
id) point at their item through ``RPERM#<id>``.

Deletions go children first and META last, so a deletion that stops half way (a crash)
leaves a role that still exists and is deleted completely by deleting it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.auth import ids
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]


class RoleExists(Exception):
    """Another role of the workspace already has this name."""


class RoleMissing(Exception):
    """No role with this id."""


class UserGone(Exception):
    """The user an assignment names does not exist (any more)."""


class PermissionExists(Exception):
    """The role already holds a permission on this (resource type, pattern)."""


class AssignmentExists(Exception):
    """The user already holds the role."""


class AssignmentMissing(Exception):
    """The user does not hold the role."""


@dataclass
class Role:
    meta: Item
    permissions: list[Item] = field(default_factory=list)

    @property
    def role_id(self) -> int:
        return int(self.meta["role_id"])

    @property
    def workspace(self) -> str:
        return self.meta["workspace"]


def _by_id(items: Iterable[Item], attribute: str) -> list[Item]:
    return sorted(items, key=lambda item: int(item[attribute]))


class RoleRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- roles -----------------------------------------------------------------------
    def create(
        self,
        name: str,
        workspace: str,
        description: str | None,
        *,
        synthetic: bool = False,
        member: int | None = None,
    ) -> dict[str, int]:
        """Create a role (and assign ``member`` to it in the same transaction); the ids
        claimed: ``{ids.ROLE: ..., ids.ASSIGNMENT: ...}``."""
        counters = [ids.ROLE] if member is None else [ids.ROLE, ids.ASSIGNMENT]

        def build(claimed: dict[str, int]) -> list[dict]:
            role_id = claimed[ids.ROLE]
            meta = {
                **keys.auth_role_key(role_id),
                **keys.auth_role_list_keys(role_id),
                "role_id": role_id,
                "name": name,
                "workspace": workspace,
                "description": description,
                "synthetic": synthetic,
            }
            if synthetic and member is not None:
                meta["user_id"] = int(member)  # whose ``__user_<id>__`` role this is
            guard = {**keys.auth_role_name_key(workspace, name), "role_id": role_id, "name": name}
            actions = [
                self.gateway.tx_put(guard, Attr("PK").not_exists()),
                self.gateway.tx_put(meta, Attr("PK").not_exists()),
            ]
            if member is not None:
                # META is put by this transaction: no check of it beside (one action per item).
                actions += self._assignment_puts(
                    member, meta, claimed[ids.ASSIGNMENT], check_role=False
                )
            return actions

        try:
            return ids.transact_with_ids(self.gateway, counters, build, what=f"role {name}")
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise RoleExists(workspace, name) from None
            if member is not None and 4 in failed:
                raise UserGone(member) from None
            raise

    def get(self, role_id: int) -> Role | None:
        """The role with its permissions (one Query: META and the ``P#`` items)."""
        items = list(
            self.gateway.query(
                Key("PK").eq(keys.auth_role_pk(role_id))
                & Key("SK").lt(keys.AUTH_ROLE_MEMBER_PREFIX),
                consistent=True,
            )
        )
        meta = next((i for i in items if i["SK"] == keys.META), None)
        if meta is None:
            return None
        perms = [i for i in items if i["SK"].startswith(keys.AUTH_PERMISSION_PREFIX)]
        return Role(meta, _by_id(perms, "role_permission_id"))

    def get_meta(self, role_id: int) -> Item | None:
        return self.gateway.get_item(keys.auth_role_key(role_id))

    def id_by_name(self, workspace: str, name: str) -> int | None:
        guard = self.gateway.get_item(keys.auth_role_name_key(workspace, name))
        if guard is None or guard.get("name") != name:
            return None
        return int(guard["role_id"])

    def ids_in_workspace(self, workspace: str) -> list[int]:
        """The workspace's role ids, from its name guards (consistent, no index)."""
        guards = self.gateway.query(
            Key("PK").eq(keys.auth_role_names_pk(workspace)), consistent=True
        )
        return sorted(int(g["role_id"]) for g in guards)

    def all_ids(self) -> list[int]:
        """Every role id of every workspace (GSI1: a role created a moment ago may be
        missing)."""
        pattern = indexes.AUTH_ROLES_BY_ID
        metas = self.gateway.query(pattern.pk_eq(keys.AUTH_ROLES_GSI1PK), index=pattern.index)
        return sorted(int(m["role_id"]) for m in metas)

    def rename(self, meta: Item, name: str, description: str | None) -> None:
        """Move the name guard and rename META in one transaction (RoleExists if taken)."""
        role_id, workspace = int(meta["role_id"]), meta["workspace"]
        fields: dict[str, Any] = {"name": name}
        if description is not None:
            fields["description"] = description
        expression, names, values = set_expression(fields)
        actions = [
            self.gateway.tx_put(
                {**keys.auth_role_name_key(workspace, name), "role_id": role_id, "name": name},
                Attr("PK").not_exists(),
            ),
            self.gateway.tx_delete(
                keys.auth_role_name_key(workspace, meta["name"]), Attr("role_id").eq(role_id)
            ),
            self.gateway.tx_update(
                keys.auth_role_key(role_id),
                expression,
                names=names,
                values=values,
                condition=Attr("name").eq(meta["name"]),
            ),
        ]
        try:
            self.gateway.transact_write(actions)
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise RoleExists(workspace, name) from None
            raise RoleMissing(role_id) from None

    def set_fields(self, role_id: int, fields: dict[str, Any]) -> None:
        expression, names, values = set_expression(fields)
        try:
            self.gateway.update_item(
                keys.auth_role_key(role_id),
                expression,
                names=names,
                values=values,
                condition=Attr("PK").exists(),
            )
        except ConditionFailed:
            raise RoleMissing(role_id) from None

    def delete(self, role_id: int) -> None:
        """Delete the role, its permissions (with their pointers) and its assignments (both
        sides), then META and the name guard."""
        items = list(self.gateway.query(Key("PK").eq(keys.auth_role_pk(role_id)), consistent=True))
        meta = next((i for i in items if i["SK"] == keys.META), None)
        if meta is None:
            raise RoleMissing(role_id)
        deletes: list[Item] = []
        for item in items:
            if item["SK"].startswith(keys.AUTH_ROLE_MEMBER_PREFIX):
                deletes.append(
                    keys.auth_user_role_key(int(item["user_id"]), meta["workspace"], role_id)
                )
            elif item["SK"].startswith(keys.AUTH_PERMISSION_PREFIX):
                deletes.extend(self._permission_satellites(item))
            if item["SK"] != keys.META:
                deletes.append({"PK": item["PK"], "SK": item["SK"]})
        self.gateway.batch_write(deletes=deletes)
        self.gateway.transact_write(
            [
                self.gateway.tx_delete(
                    keys.auth_role_name_key(meta["workspace"], meta["name"]),
                    Attr("role_id").eq(role_id),
                ),
                self.gateway.tx_delete(keys.auth_role_key(role_id)),
            ]
        )

    # ---- permissions -----------------------------------------------------------------
    def add_permission(self, meta: Item, resource_type: str, pattern: str, permission: str) -> Item:
        """Add a permission to the role; PermissionExists if it holds one on (type,
        pattern). Permissions of ``__user_<id>__`` roles are also listed under their resource
        (``GRANTS#``), for deleting and renaming them with it."""
        role_id = int(meta["role_id"])
        synthetic = bool(meta.get("synthetic"))
        perm_key = keys.auth_permission_key(role_id, resource_type, pattern)
        created: dict[str, Item] = {}

        def build(claimed: dict[str, int]) -> list[dict]:
            perm_id = claimed[ids.ROLE_PERMISSION]
            item = {
                **perm_key,
                "role_permission_id": perm_id,
                "role_id": role_id,
                "resource_type": resource_type,
                "resource_pattern": pattern,
                "permission": permission,
                "workspace": meta["workspace"],
                "synthetic": synthetic,
            }
            created["item"] = item
            pointer = {
                **keys.auth_permission_id_key(perm_id),
                "role_id": role_id,
                "perm_sk": perm_key["SK"],
            }
            actions = [
                self.gateway.tx_put(item, Attr("PK").not_exists()),
                self.gateway.tx_put(pointer, Attr("PK").not_exists()),
                self.gateway.tx_check(keys.auth_role_key(role_id), Attr("PK").exists()),
            ]
            if synthetic:
                ref = {
                    **keys.auth_grant_ref_key(resource_type, pattern, meta["workspace"], role_id),
                    "role_id": role_id,
                    "role_permission_id": perm_id,
                    "workspace": meta["workspace"],
                    "resource_type": resource_type,
                    "resource_pattern": pattern,
                    "user_id": meta.get("user_id"),
                }
                actions.append(self.gateway.tx_put(ref))
            return actions

        try:
            ids.transact_with_ids(
                self.gateway, [ids.ROLE_PERMISSION], build, what=f"role {role_id} permission"
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise PermissionExists(role_id, resource_type, pattern) from None
            if 2 in failed:
                raise RoleMissing(role_id) from None
            raise
        return created["item"]

    def permission_by_id(self, permission_id: int) -> Item | None:
        pointer = self.gateway.get_item(keys.auth_permission_id_key(permission_id))
        if pointer is None:
            return None
        item = self.gateway.get_item(
            {"PK": keys.auth_role_pk(int(pointer["role_id"])), "SK": pointer["perm_sk"]}
        )
        if item is None or int(item["role_permission_id"]) != int(permission_id):
            return None
        return item

    def permission_at(self, role_id: int, resource_type: str, pattern: str) -> Item | None:
        item = self.gateway.get_item(keys.auth_permission_key(role_id, resource_type, pattern))
        if item is None or item.get("resource_pattern") != pattern:
            return None
        return item

    def permissions(self, role_id: int, resource_types: Iterable[str] | None = None) -> list[Item]:
        """The role's permissions (of ``resource_types`` only: one Query per type)."""
        pk = Key("PK").eq(keys.auth_role_pk(role_id))
        prefixes = (
            [keys.auth_permission_prefix()]
            if resource_types is None
            else [keys.auth_permission_prefix(t) for t in sorted(set(resource_types))]
        )
        found: list[Item] = []
        for prefix in prefixes:
            found.extend(self.gateway.query(pk & Key("SK").begins_with(prefix), consistent=True))
        return _by_id(found, "role_permission_id")

    def set_permission(self, item: Item, permission: str) -> Item:
        try:
            updated = self.gateway.update_item(
                {"PK": item["PK"], "SK": item["SK"]},
                "SET #u_p = :u_p",
                names={"#u_p": "permission"},
                values={":u_p": permission},
                condition=Attr("role_permission_id").eq(item["role_permission_id"]),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise RoleMissing(item["role_id"]) from None
        assert updated is not None
        return updated

    def remove_permission(self, item: Item) -> None:
        actions = [
            self.gateway.tx_delete(
                {"PK": item["PK"], "SK": item["SK"]},
                Attr("role_permission_id").eq(item["role_permission_id"]),
            ),
            *(self.gateway.tx_delete(key) for key in self._permission_satellites(item)),
        ]
        self.gateway.transact_write(actions)

    def _permission_satellites(self, item: Item) -> list[Item]:
        """The id pointer and (for ``__user_<id>__`` roles) the resource listing entry."""
        satellites = [keys.auth_permission_id_key(int(item["role_permission_id"]))]
        if item.get("synthetic"):
            satellites.append(
                keys.auth_grant_ref_key(
                    item["resource_type"],
                    item["resource_pattern"],
                    item["workspace"],
                    int(item["role_id"]),
                )
            )
        return satellites

    # ---- members ---------------------------------------------------------------------
    def assign(self, user_id: int, meta: Item) -> int:
        """Assign the user to the role; the assignment id. AssignmentExists, RoleMissing,
        UserGone."""

        def build(claimed: dict[str, int]) -> list[dict]:
            return self._assignment_puts(user_id, meta, claimed[ids.ASSIGNMENT])

        try:
            claimed = ids.transact_with_ids(
                self.gateway, [ids.ASSIGNMENT], build, what=f"user {user_id} role assignment"
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed or 1 in failed:
                raise AssignmentExists(user_id, meta["role_id"]) from None
            if 2 in failed:
                raise RoleMissing(meta["role_id"]) from None
            if 3 in failed:
                raise UserGone(user_id) from None
            raise
        return claimed[ids.ASSIGNMENT]

    def _assignment_puts(
        self, user_id: int, meta: Item, assignment_id: int, *, check_role: bool = True
    ) -> list[dict]:
        """Both sides of an assignment, then the checks that the role (unless ``check_role``
        is off) and the user exist."""
        role_id, workspace = int(meta["role_id"]), meta["workspace"]
        common = {
            "assignment_id": assignment_id,
            "user_id": int(user_id),
            "role_id": role_id,
            "workspace": workspace,
            "synthetic": bool(meta.get("synthetic")),
        }
        actions = [
            self.gateway.tx_put(
                {**keys.auth_user_role_key(user_id, workspace, role_id), **common},
                Attr("PK").not_exists(),
            ),
            self.gateway.tx_put(
                {**keys.auth_role_member_key(role_id, user_id), **common},
                Attr("PK").not_exists(),
            ),
        ]
        if check_role:
            actions.append(self.gateway.tx_check(keys.auth_role_key(role_id), Attr("PK").exists()))
        actions.append(self.gateway.tx_check(keys.auth_user_id_key(user_id), Attr("PK").exists()))
        return actions

    def unassign(self, user_id: int, meta: Item) -> None:
        role_id = int(meta["role_id"])
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(
                        keys.auth_user_role_key(user_id, meta["workspace"], role_id),
                        Attr("PK").exists(),
                    ),
                    self.gateway.tx_delete(keys.auth_role_member_key(role_id, user_id)),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise AssignmentMissing(user_id, role_id) from None
            raise

    def user_assignments(self, user_id: int, workspace: str | None = None) -> list[Item]:
        """The user's side of their assignments (of one workspace, when given), by role id."""
        condition = Key("PK").eq(keys.auth_user_pk(user_id)) & Key("SK").begins_with(
            keys.auth_user_role_prefix(workspace)
        )
        items = self.gateway.query(condition, consistent=True)
        return _by_id(
            (i for i in items if workspace is None or i["workspace"] == workspace), "role_id"
        )

    def assignment(self, user_id: int, workspace: str, role_id: int) -> Item | None:
        """The user's side of one assignment (one GetItem), or None."""
        return self.gateway.get_item(keys.auth_user_role_key(user_id, workspace, role_id))

    def has_assignment_in(self, user_id: int, workspace: str) -> bool:
        return bool(self.user_assignments(user_id, workspace))

    def members(self, role_id: int) -> list[Item]:
        condition = Key("PK").eq(keys.auth_role_pk(role_id)) & Key("SK").begins_with(
            keys.AUTH_ROLE_MEMBER_PREFIX
        )
        return _by_id(self.gateway.query(condition, consistent=True), "assignment_id")

    def workspace_slots(self, role_ids: Iterable[int]) -> dict[int, Item]:
        """Each role's ``(workspace, *)`` permission, where it has one (one BatchGetItem per
        100 roles)."""
        wanted = [keys.auth_permission_key(r, "workspace", "*") for r in set(role_ids)]
        found = self.gateway.batch_get(wanted, consistent=True) if wanted else []
        return {int(item["role_id"]): item for item in found}
