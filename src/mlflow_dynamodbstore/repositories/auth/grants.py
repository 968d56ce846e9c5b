"""Per-user grants: the hidden ``__user_<id>__`` role of a user in a workspace, and the
listing of every such grant by resource (``GRANTS#<type>#<pattern>``).

MLflow 3.17 stores "user X has permission P on resource R" as a permission of a role named
``__user_<id>__`` in R's workspace, created on the user's first grant there and assigned to
the user; the REST API and the UI show these roles and their ids. This store does the same.
When a resource is deleted or renamed, MLflow deletes or renames every such grant on it:
the by-resource listing, written in the same transaction as each grant, finds them with one
strongly consistent Query instead of a Scan.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.repositories.auth import ids
from mlflow_dynamodbstore.repositories.auth.roles import (
    AssignmentExists,
    PermissionExists,
    RoleExists,
    RoleRepository,
)
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]

SYNTHETIC_PREFIX = "__user_"
_SYNTHETIC_NAME = re.compile(r"^__user_(\d+)__$")


def synthetic_role_name(user_id: int) -> str:
    return f"{SYNTHETIC_PREFIX}{int(user_id)}__"


def synthetic_user_id(name: str | None) -> int | None:
    """The user id a ``__user_<id>__`` role name stands for (None for other names)."""
    match = _SYNTHETIC_NAME.match(name or "")
    return int(match.group(1)) if match else None


class GrantRepository:
    def __init__(self, gateway: TableGateway, roles: RoleRepository):
        self.gateway = gateway
        self.roles = roles

    def synthetic_role(self, user_id: int, workspace: str) -> Item | None:
        """The user's ``__user_<id>__`` role in the workspace as a META-like item (from its
        name guard alone: one GetItem), or None."""
        name = synthetic_role_name(user_id)
        role_id = self.roles.id_by_name(workspace, name)
        if role_id is None:
            return None
        return {
            "role_id": role_id,
            "name": name,
            "workspace": workspace,
            "synthetic": True,
            "user_id": int(user_id),
        }

    def ensure_synthetic_role(self, user_id: int, workspace: str) -> Item:
        """The user's ``__user_<id>__`` role in the workspace, created (with the assignment,
        in one transaction) on the first grant; a missing assignment is restored, as the SQL
        store does. Two servers creating it at once end up with one role."""
        meta = self.synthetic_role(user_id, workspace)
        if meta is None:
            try:
                created = self.roles.create(
                    synthetic_role_name(user_id), workspace, None, synthetic=True, member=user_id
                )
            except RoleExists:
                meta = self.synthetic_role(user_id, workspace)
            else:
                return {
                    "role_id": created[ids.ROLE],
                    "name": synthetic_role_name(user_id),
                    "workspace": workspace,
                    "synthetic": True,
                    "user_id": int(user_id),
                }
        assert meta is not None
        assignment = self.gateway.get_item(
            keys.auth_user_role_key(user_id, workspace, meta["role_id"])
        )
        if assignment is None:
            with contextlib.suppress(AssignmentExists):
                self.roles.assign(user_id, meta)
        return meta

    def upsert(self, meta: Item, resource_type: str, pattern: str, permission: str) -> Item:
        """Set the role's permission on (type, pattern), adding it if absent."""
        existing = self.roles.permission_at(int(meta["role_id"]), resource_type, pattern)
        if existing is None:
            try:
                return self.roles.add_permission(meta, resource_type, pattern, permission)
            except PermissionExists:
                existing = self.roles.permission_at(int(meta["role_id"]), resource_type, pattern)
                assert existing is not None
        return self.roles.set_permission(existing, permission)

    def refs(self, resource_type: str, pattern: str, workspace: str | None = None) -> list[Item]:
        """The ``__user_<id>__`` grants on one resource (in one workspace, when given)."""
        condition = Key("PK").eq(keys.auth_grants_pk(resource_type, pattern))
        if workspace is not None:
            condition &= Key("SK").begins_with(keys.auth_grant_ref_prefix(workspace))
        return [
            ref
            for ref in self.gateway.query(condition, consistent=True)
            if ref["resource_pattern"] == pattern
            and (workspace is None or ref["workspace"] == workspace)
        ]

    def delete_for_resource(
        self, resource_type: str, pattern: str, workspace: str | None = None
    ) -> None:
        """Delete every ``__user_<id>__`` grant on the resource: one Query, then one
        BatchWriteItem per 8 grants (a grant is three items)."""
        deletes: list[Item] = []
        for ref in self.refs(resource_type, pattern, workspace):
            deletes += [
                keys.auth_permission_key(int(ref["role_id"]), resource_type, pattern),
                keys.auth_permission_id_key(int(ref["role_permission_id"])),
                {"PK": ref["PK"], "SK": ref["SK"]},
            ]
        if deletes:
            self.gateway.batch_write(deletes=deletes)

    def rename_for_resource(
        self, resource_type: str, old: str, new: str, workspace: str | None = None
    ) -> None:
        """Move every ``__user_<id>__`` grant on ``old`` to ``new``, keeping its id: one
        transaction per grant. Where the user already holds a grant on ``new``, that one
        stays and the grant on ``old`` goes (the SQL store fails there on its unique key)."""
        for ref in self.refs(resource_type, old, workspace):
            role_id = int(ref["role_id"])
            item = self.roles.permission_at(role_id, resource_type, old)
            if item is None:
                self.gateway.delete_item({"PK": ref["PK"], "SK": ref["SK"]})
                continue
            moved = {
                **item,
                **keys.auth_permission_key(role_id, resource_type, new),
                "resource_pattern": new,
            }
            new_ref = {
                **ref,
                **keys.auth_grant_ref_key(resource_type, new, ref["workspace"], role_id),
                "resource_pattern": new,
            }
            pointer = {
                **keys.auth_permission_id_key(int(item["role_permission_id"])),
                "role_id": role_id,
                "perm_sk": moved["SK"],
            }
            try:
                self.gateway.transact_write(
                    [
                        self.gateway.tx_put(moved, Attr("PK").not_exists()),
                        self.gateway.tx_delete(
                            {"PK": item["PK"], "SK": item["SK"]},
                            Attr("role_permission_id").eq(item["role_permission_id"]),
                        ),
                        self.gateway.tx_put(pointer),
                        self.gateway.tx_delete({"PK": ref["PK"], "SK": ref["SK"]}),
                        self.gateway.tx_put(new_ref),
                    ]
                )
            except TransactionCancelled as exc:
                if 0 not in exc.failed_conditions():
                    raise
                self.roles.remove_permission(item)
