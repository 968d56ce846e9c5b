"""Auth users: the user record (found by name), the user's id item and listing.

A user is two items written in one transaction: the record under the user name (every
request authenticates by name, so that is one GetItem), which is also the name's uniqueness
guard, and the id item that heads the user's own partition (the user's role assignments
live there; see roles.py). The record is the only item that holds the password hash.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.auth import ids
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]


class UserExists(Exception):
    """Another user already has this name."""


class UserMissing(Exception):
    """No user of this name (or id)."""


class UserRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def create(self, username: str, password_hash: str, is_admin: bool) -> Item:
        """Write the user under the next user id; UserExists if the name is taken (no id is
        used up then). A name is checked first, so a plain duplicate costs one GetItem."""
        if self.get(username) is not None:
            raise UserExists(username)

        def build(claimed: dict[str, int]) -> list[dict]:
            user_id = claimed[ids.USER]
            record = {
                **keys.auth_user_key(username),
                **keys.auth_user_list_keys(user_id),
                "user_id": user_id,
                "username": username,
                "password_hash": password_hash,
                "is_admin": bool(is_admin),
            }
            id_item = {**keys.auth_user_id_key(user_id), "user_id": user_id, "username": username}
            return [
                self.gateway.tx_put(record, Attr("PK").not_exists()),
                self.gateway.tx_put(id_item, Attr("PK").not_exists()),
            ]

        try:
            user_id = ids.transact_with_ids(
                self.gateway, [ids.USER], build, what=f"user {username}"
            )[ids.USER]
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise UserExists(username) from None
            raise
        return {
            "user_id": user_id,
            "username": username,
            "password_hash": password_hash,
            "is_admin": bool(is_admin),
        }

    def create_if_absent(
        self, username: str, password_hash: str, is_admin: bool
    ) -> tuple[Item, bool]:
        """Write a user with a password hash as given (``auth import`` copies hashes, it
        never re-hashes), unless the name is taken: (the record, True) when written,
        (the existing record, False) otherwise. The write is conditional on the name guard,
        so a concurrent creator of the same name wins cleanly."""
        try:
            return self.create(username, password_hash, is_admin), True
        except UserExists:
            existing = self.get(username)
            if existing is None:  # deleted in between: try once more
                return self.create(username, password_hash, is_admin), True
            return existing, False

    def get(self, username: str) -> Item | None:
        """The user record (strongly consistent: a password change or deletion made through
        any server counts at once)."""
        item = self.gateway.get_item(keys.auth_user_key(username))
        if item is None or item.get("username") != username:
            return None
        return item

    def require(self, username: str) -> Item:
        item = self.get(username)
        if item is None:
            raise UserMissing(username)
        return item

    def get_by_id(self, user_id: int) -> Item | None:
        """The id item (``user_id``, ``username``), or None."""
        return self.gateway.get_item(keys.auth_user_id_key(user_id))

    def list(self) -> list[Item]:
        """Every user record, by id (GSI1: a user created a moment ago may be missing)."""
        pattern = indexes.AUTH_USERS_BY_ID
        return list(self.gateway.query(pattern.pk_eq(keys.AUTH_USERS_GSI1PK), index=pattern.index))

    def update(self, username: str, fields: dict[str, Any]) -> Item:
        """Set ``fields`` on the record of an existing user; the record after the change."""
        expression, names, values = set_expression(fields)
        try:
            item = self.gateway.update_item(
                keys.auth_user_key(username),
                expression,
                names=names,
                values=values,
                condition=Attr("username").eq(username),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise UserMissing(username) from None
        assert item is not None
        return item

    def delete_actions(self, user: Item) -> list[dict]:
        """Transaction actions deleting the record and the id item (conditioned on the id read,
        so a user re-created meanwhile under the same name is left alone)."""
        return [
            self.gateway.tx_delete(
                keys.auth_user_key(user["username"]), Attr("user_id").eq(user["user_id"])
            ),
            self.gateway.tx_delete(keys.auth_user_id_key(int(user["user_id"]))),
        ]
