"""``auth import``: copy MLflow basic-auth's SQL database into the table.

Reads the source with MLflow's own ``SqlAlchemyStore`` (which migrates an older basic-auth
database to 3.17's schema first, as ``mlflow server --app-name basic-auth`` would) and
writes through the dynamodb-auth store's repositories: users with their password hashes as
stored (never re-hashed, never printed), roles with their permissions, and user-role
assignments. Per-user grants are permissions of the hidden ``__user_<id>__`` roles; the ids
in the table may differ from the SQL ids, so those roles are named after the user's id in
the table, as the store names them. Whatever already exists (same user name, same role name
in the workspace, same permission target, same assignment) is skipped and reported.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

import click
from mlflow.exceptions import MlflowException

Item = dict[str, Any]
KINDS = ("users", "roles", "permissions", "assignments")
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _check_source(uri: str) -> None:
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme not in _SQL_SCHEMES:
        raise click.BadParameter(
            "must be a basic-auth SQL database URI (sqlite:///basic_auth.db, postgresql://…, "
            f"mysql://… or mssql://…), not {uri!r}.",
            param_hint="'--from'",
        )
    if scheme == "sqlite":
        from pathlib import Path

        path = uri.split(":///", 1)[1] if ":///" in uri else ""
        if not path or path == ":memory:" or not Path(path).is_file():
            raise click.BadParameter(
                f"no SQLite database at {path or uri!r}.", param_hint="'--from'"
            )


class _Importer:
    def __init__(self, source, target, dry_run: bool):
        self.source = source
        self.target = target
        self.dry_run = dry_run
        self.done: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        # SQL user id -> table user id (None: would be created, in a dry run).
        self.user_ids: dict[int, int | None] = {}
        # SQL role id -> table role META (None: would be created, in a dry run).
        self.roles: dict[int, Any] = {}  # False: not copied
        self.made_assignments: set[tuple[int, int]] = set()

    # ---- users -----------------------------------------------------------------------
    def user(self, user) -> None:
        existing = self.target.users.get(user.username)
        if existing is not None:
            self.user_ids[user.id] = int(existing["user_id"])
            self.skipped["users"] += 1
            return
        if self.dry_run:
            self.user_ids[user.id] = None
            self.done["users"] += 1
            return
        item, created = self.target.users.create_if_absent(
            user.username, user.password_hash, bool(user.is_admin)
        )
        self.user_ids[user.id] = int(item["user_id"])
        (self.done if created else self.skipped)["users"] += 1

    # ---- roles -----------------------------------------------------------------------
    def role(self, role) -> None:
        from mlflow_dynamodbstore.repositories.auth import grants as grant_names
        from mlflow_dynamodbstore.repositories.auth.roles import RoleExists

        old_owner = grant_names.synthetic_user_id(role.name)
        if old_owner is not None:
            if old_owner not in self.user_ids:  # a hidden role of no user: nothing to copy
                self.skipped["roles"] += 1
                self.roles[role.id] = False
                return
            new_owner = self.user_ids[old_owner]
            meta = (
                None
                if new_owner is None
                else self.target.grants.synthetic_role(new_owner, role.workspace)
            )
            if meta is not None:
                self.skipped["roles"] += 1
            elif not self.dry_run:
                assert new_owner is not None
                meta = self.target.grants.ensure_synthetic_role(new_owner, role.workspace)
                self.made_assignments.add((new_owner, int(meta["role_id"])))
                self.done["roles"] += 1
            else:
                self.done["roles"] += 1
            self.roles[role.id] = meta
            return
        role_id = self.target.roles.id_by_name(role.workspace, role.name)
        if role_id is not None:
            self.skipped["roles"] += 1
            self.roles[role.id] = self.target.roles.get_meta(role_id)
            return
        self.done["roles"] += 1
        if self.dry_run:
            self.roles[role.id] = None
            return
        try:
            created = self.target.roles.create(role.name, role.workspace, role.description)
        except RoleExists:  # created meanwhile by someone else
            self.done["roles"] -= 1
            self.skipped["roles"] += 1
            role_id = self.target.roles.id_by_name(role.workspace, role.name)
        else:
            from mlflow_dynamodbstore.repositories.auth import ids

            role_id = created[ids.ROLE]
        self.roles[role.id] = self.target.roles.get_meta(role_id)

    def permissions(self, role) -> None:
        from mlflow_dynamodbstore.repositories.auth.roles import PermissionExists

        meta = self.roles.get(role.id)
        for p in role.permissions:
            if meta is False:
                self.skipped["permissions"] += 1
                continue
            if meta is not None and (
                self.target.roles.permission_at(
                    int(meta["role_id"]), p.resource_type, p.resource_pattern
                )
                is not None
            ):
                self.skipped["permissions"] += 1
                continue
            if self.dry_run:
                self.done["permissions"] += 1
                continue
            assert meta is not None
            try:
                self.target.roles.add_permission(
                    meta, p.resource_type, p.resource_pattern, p.permission
                )
            except PermissionExists:
                self.skipped["permissions"] += 1
            else:
                self.done["permissions"] += 1

    def assignments(self, role, members) -> None:
        from mlflow_dynamodbstore.repositories.auth.roles import AssignmentExists

        meta = self.roles.get(role.id)
        for a in members:
            new_user = self.user_ids.get(a.user_id, False)
            if meta is False or new_user is False:  # its role or user was not copied
                self.skipped["assignments"] += 1
                continue
            if meta is not None and new_user is not None:
                pair = (new_user, int(meta["role_id"]))
                if pair in self.made_assignments:  # made with its hidden role just now
                    self.done["assignments"] += 1
                    continue
                if self.target.roles.assignment(new_user, meta["workspace"], pair[1]) is not None:
                    self.skipped["assignments"] += 1
                    continue
            if self.dry_run:
                self.done["assignments"] += 1
                continue
            assert meta is not None and new_user is not None
            try:
                self.target.roles.assign(new_user, meta)
            except AssignmentExists:
                self.skipped["assignments"] += 1
            else:
                self.done["assignments"] += 1

    def summary(self) -> dict[str, Any]:
        return {
            **{kind: self.done[kind] for kind in KINDS},
            "skipped": {kind: self.skipped[kind] for kind in KINDS},
            "dry_run": self.dry_run,
        }


def run_import(source_uri: str, store_uri: str, *, dry_run: bool, progress: bool = True):
    """Copy the basic-auth database at ``source_uri`` into the table; the summary."""
    from mlflow_dynamodbstore.auth.app import require_auth_model

    require_auth_model("auth import")
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore

    source = SqlAlchemyStore()
    source.init_db(source_uri)
    target = DynamoDBAuthStore(store_uri)
    importer = _Importer(source, target, dry_run)

    users = sorted(source.list_users(), key=lambda u: u.id)
    with click.progressbar(
        users, label="Users", file=sys.stderr, item_show_func=lambda _: None
    ) as bar:
        for user in bar:
            importer.user(user)
    for role in sorted(source.list_roles(), key=lambda r: r.id):
        importer.role(role)
        importer.permissions(role)
        importer.assignments(role, source.list_role_users(role.id))
    return importer.summary()


@click.group("auth")
def auth() -> None:
    """Administer the dynamodb-auth app's users, roles and permissions."""


@auth.command("import")
@click.argument("store_uri")
@click.option(
    "--from",
    "source_uri",
    required=True,
    help="The basic-auth SQL database, e.g. sqlite:///basic_auth.db.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be copied; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_(store_uri: str, source_uri: str, dry_run: bool, as_json: bool) -> None:
    """Copy users (password hashes as stored), roles, role permissions (per-user grants
    included) and user-role assignments from MLflow basic-auth's SQL database into the
    table at STORE_URI. Rerunning skips what already exists."""
    if not store_uri.startswith("dynamodb://"):
        raise click.BadParameter(
            f"must be a dynamodb:// URI, not {store_uri!r}.", param_hint="'STORE_URI'"
        )
    _check_source(source_uri)
    try:
        summary = run_import(source_uri, store_uri, dry_run=dry_run)
    except MlflowException as exc:
        raise click.ClickException(f"{exc.error_code}: {exc.message}") from None
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    verb = "would copy" if dry_run else "copied"
    for kind in KINDS:
        click.echo(f"{kind}: {verb} {summary[kind]}, skipped {summary['skipped'][kind]}")
