"""Per-user grants of the auth store: permissions of the user's ``__user_<id>__`` role in the
active workspace (MLflow 3.17's representation), the per-resource methods MLflow's REST
handlers still call (experiments, registered models, scorers, gateway secrets, endpoints and
model definitions, MCP servers), and workspace permissions.

A mixin of ``DynamoDBAuthStore`` (store.py): it uses the store's repositories, its user
lookup and its active workspace. Messages and error codes are the SQL store's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST
from mlflow.server.auth.entities import (
    ExperimentPermission,
    RegisteredModelPermission,
    ScorerPermission,
    WorkspacePermission,
)
from mlflow.server.auth.permissions import (
    RESOURCE_TYPE_EXPERIMENT,
    RESOURCE_TYPE_REGISTERED_MODEL,
    RESOURCE_TYPE_SCORER,
    RESOURCE_TYPE_WORKSPACE,
    Permission,
    _validate_permission_for_resource_type,
    _validate_resource_pattern,
    _validate_resource_type,
    get_permission,
    max_permission,
)

from mlflow_dynamodbstore.repositories.auth.ids import IdsBusy
from mlflow_dynamodbstore.repositories.auth.roles import PermissionExists

if TYPE_CHECKING:
    from mlflow_dynamodbstore.repositories.auth.grants import GrantRepository
    from mlflow_dynamodbstore.repositories.auth.roles import RoleRepository

Item = dict[str, Any]
Message = Callable[[str], str]  # the active workspace -> the error message


def _exists(message: str) -> MlflowException:
    return MlflowException(message, RESOURCE_ALREADY_EXISTS)


def _missing(message: str) -> MlflowException:
    return MlflowException(message, RESOURCE_DOES_NOT_EXIST)


class UserGrantsMixin:
    roles: RoleRepository
    grants: GrantRepository

    # Provided by the store class.
    def _user_item(self, username: str) -> Item: ...  # pragma: no cover
    @classmethod
    def _get_active_workspace_name(cls) -> str: ...  # pragma: no cover

    @staticmethod
    def _scorer_pattern(experiment_id: str, scorer_name: str) -> str:
        # MLflow's encoding: the name URL-quoted so that "<experiment id>/<name>" is
        # unambiguous (scorer names may contain "/").
        return f"{experiment_id}/{quote(scorer_name, safe='')}"

    # ---- generic grant helpers ---------------------------------------------------------
    def _create_grant(
        self, resource_type: str, pattern: str, username: str, permission: str, dup: Message
    ) -> tuple[int, str]:
        """Add a grant (RESOURCE_ALREADY_EXISTS if the user has one on it here); the user id
        and the workspace."""
        user = self._user_item(username)
        user_id = int(user["user_id"])
        workspace = self._get_active_workspace_name()
        meta = self._ensure_role(user_id, workspace)
        if self.roles.permission_at(int(meta["role_id"]), resource_type, pattern) is not None:
            raise _exists(dup(workspace))
        try:
            self.roles.add_permission(meta, resource_type, pattern, permission)
        except PermissionExists:
            raise _exists(dup(workspace)) from None
        except IdsBusy:
            raise MlflowException("Too many concurrent grants; try again.") from None
        return user_id, workspace

    def _ensure_role(self, user_id: int, workspace: str) -> Item:
        try:
            return self.grants.ensure_synthetic_role(user_id, workspace)
        except IdsBusy:
            raise MlflowException("Too many concurrent grants; try again.") from None

    def _grant_row(
        self, resource_type: str, pattern: str, username: str, not_found: Message
    ) -> tuple[int, str, Item]:
        """(user id, workspace, the grant item) of an existing grant in the active workspace."""
        user_id = int(self._user_item(username)["user_id"])
        workspace = self._get_active_workspace_name()
        meta = self.grants.synthetic_role(user_id, workspace)
        item = (
            None
            if meta is None
            else self.roles.permission_at(int(meta["role_id"]), resource_type, pattern)
        )
        if item is None:
            raise _missing(not_found(workspace))
        return user_id, workspace, item

    def _update_grant(
        self, resource_type: str, pattern: str, username: str, permission: str, nf: Message
    ) -> tuple[int, str]:
        _validate_permission_for_resource_type(permission, resource_type)
        user_id, workspace, item = self._grant_row(resource_type, pattern, username, nf)
        self.roles.set_permission(item, permission)
        return user_id, workspace

    def _delete_grant(self, resource_type: str, pattern: str, username: str, nf: Message) -> None:
        _, _, item = self._grant_row(resource_type, pattern, username, nf)
        self.roles.remove_permission(item)

    def _list_grants(
        self, username: str, resource_type: str, *, every_workspace: bool
    ) -> tuple[int, list[Item]]:
        """The user's grants of one type: in the active workspace, or in all of them (some of
        the SQL store's list methods do not filter on the workspace)."""
        user_id = int(self._user_item(username)["user_id"])
        workspace = None if every_workspace else self._get_active_workspace_name()
        rows: list[Item] = []
        for assignment in self.roles.user_assignments(user_id, workspace):
            if assignment.get("synthetic"):
                rows.extend(self.roles.permissions(int(assignment["role_id"]), [resource_type]))
        return user_id, sorted(rows, key=lambda r: int(r["role_permission_id"]))

    # ---- the unified grant API ---------------------------------------------------------
    def grant_user_permission(
        self, username: str, resource_type: str, resource_pattern: str, permission: str
    ) -> None:
        _validate_resource_pattern(resource_pattern, resource_type)
        _validate_permission_for_resource_type(permission, resource_type)
        user_id = int(self._user_item(username)["user_id"])
        meta = self._ensure_role(user_id, self._get_active_workspace_name())
        self.grants.upsert(meta, resource_type, resource_pattern, permission)

    @staticmethod
    def _reject_workspace_resource_type(resource_type: str) -> None:
        if resource_type == RESOURCE_TYPE_WORKSPACE:
            raise MlflowException.invalid_parameter_value(
                "resource_type 'workspace' is not supported by the per-user permission "
                "convenience APIs. Use set_workspace_permission / "
                "delete_workspace_permission for workspace-wide grants."
            )

    def grant_user_resource_permission(
        self, username: str, resource_type: str, resource_pattern: str, permission: str
    ) -> None:
        self._reject_workspace_resource_type(resource_type)
        _validate_resource_pattern(resource_pattern, resource_type)
        _validate_permission_for_resource_type(permission, resource_type)
        message = (
            f"Permission for user={username} on "
            f"resource_type={resource_type}, resource_id={resource_pattern} already exists."
        )
        self._create_grant(resource_type, resource_pattern, username, permission, lambda _: message)

    def revoke_user_resource_permission(
        self, username: str, resource_type: str, resource_pattern: str
    ) -> None:
        self._reject_workspace_resource_type(resource_type)
        _validate_resource_type(resource_type)
        message = (
            f"Permission for user={username} on "
            f"resource_type={resource_type}, resource_id={resource_pattern} not found."
        )
        self._delete_grant(resource_type, resource_pattern, username, lambda _: message)

    def delete_grants_for_resource(
        self, resource_type: str, resource_pattern: str, *, workspace_scoped: bool = False
    ) -> None:
        workspace = self._get_active_workspace_name() if workspace_scoped else None
        self.grants.delete_for_resource(resource_type, resource_pattern, workspace)

    def rename_grants_for_resource(
        self, resource_type: str, old_pattern: str, new_pattern: str, *, workspace_scoped=False
    ) -> None:
        workspace = self._get_active_workspace_name() if workspace_scoped else None
        self.grants.rename_for_resource(resource_type, old_pattern, new_pattern, workspace)

    # ---- experiments -------------------------------------------------------------------
    def create_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> ExperimentPermission:
        _validate_permission_for_resource_type(permission, RESOURCE_TYPE_EXPERIMENT)
        user_id, _ = self._create_grant(
            RESOURCE_TYPE_EXPERIMENT, experiment_id, username, permission,
            lambda _: f"Experiment permission (experiment_id={experiment_id}, "
            f"username={username}) already exists.",
        )  # fmt: skip
        return ExperimentPermission(experiment_id, user_id, permission)

    @staticmethod
    def _experiment_nf(experiment_id: str, username: str) -> Message:
        return lambda _: (
            f"Experiment permission with experiment_id={experiment_id} and "
            f"username={username} not found"
        )

    def get_experiment_permission(self, experiment_id: str, username: str) -> ExperimentPermission:
        nf = self._experiment_nf(experiment_id, username)
        user_id, _, item = self._grant_row(RESOURCE_TYPE_EXPERIMENT, experiment_id, username, nf)
        return ExperimentPermission(experiment_id, user_id, item["permission"])

    def list_experiment_permissions(self, username: str) -> list[ExperimentPermission]:
        user_id, rows = self._list_grants(username, RESOURCE_TYPE_EXPERIMENT, every_workspace=True)
        return [ExperimentPermission(r["resource_pattern"], user_id, r["permission"]) for r in rows]

    def update_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> ExperimentPermission:
        nf = self._experiment_nf(experiment_id, username)
        user_id, _ = self._update_grant(
            RESOURCE_TYPE_EXPERIMENT, experiment_id, username, permission, nf
        )
        return ExperimentPermission(experiment_id, user_id, permission)

    def delete_experiment_permission(self, experiment_id: str, username: str) -> None:
        nf = self._experiment_nf(experiment_id, username)
        self._delete_grant(RESOURCE_TYPE_EXPERIMENT, experiment_id, username, nf)

    # ---- registered models -------------------------------------------------------------
    @staticmethod
    def _model_message(name: str, username: str, outcome: str) -> Message:
        return lambda ws: (
            f"Registered model permission with workspace={ws}, name={name} and "
            f"username={username} {outcome}"
        )

    def create_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> RegisteredModelPermission:
        _validate_permission_for_resource_type(permission, RESOURCE_TYPE_REGISTERED_MODEL)
        dup = self._model_message(name, username, "already exists.")
        user_id, ws = self._create_grant(
            RESOURCE_TYPE_REGISTERED_MODEL, name, username, permission, dup
        )
        return RegisteredModelPermission(name, user_id, permission, workspace=ws)

    def get_registered_model_permission(
        self, name: str, username: str
    ) -> RegisteredModelPermission:
        nf = self._model_message(name, username, "not found")
        user_id, ws, item = self._grant_row(RESOURCE_TYPE_REGISTERED_MODEL, name, username, nf)
        return RegisteredModelPermission(name, user_id, item["permission"], workspace=ws)

    def list_registered_model_permissions(self, username: str) -> list[RegisteredModelPermission]:
        return self._model_permissions(username, every_workspace=False)

    def list_all_registered_model_permissions(
        self, username: str
    ) -> list[RegisteredModelPermission]:
        return self._model_permissions(username, every_workspace=True)

    def _model_permissions(
        self, username: str, *, every_workspace: bool
    ) -> list[RegisteredModelPermission]:
        user_id, rows = self._list_grants(
            username, RESOURCE_TYPE_REGISTERED_MODEL, every_workspace=every_workspace
        )
        return [
            RegisteredModelPermission(
                r["resource_pattern"], user_id, r["permission"], workspace=r["workspace"]
            )
            for r in rows
        ]

    def update_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> RegisteredModelPermission:
        nf = self._model_message(name, username, "not found")
        user_id, ws = self._update_grant(
            RESOURCE_TYPE_REGISTERED_MODEL, name, username, permission, nf
        )
        return RegisteredModelPermission(name, user_id, permission, workspace=ws)

    def delete_registered_model_permission(self, name: str, username: str) -> None:
        nf = self._model_message(name, username, "not found")
        self._delete_grant(RESOURCE_TYPE_REGISTERED_MODEL, name, username, nf)

    # ---- scorers -----------------------------------------------------------------------
    @staticmethod
    def _scorer_nf(experiment_id: str, scorer_name: str, username: str) -> Message:
        return lambda _: (
            f"Scorer permission with experiment_id={experiment_id}, "
            f"scorer_name={scorer_name}, and username={username} not found"
        )

    def create_scorer_permission(
        self, experiment_id: str, scorer_name: str, username: str, permission: str
    ) -> ScorerPermission:
        _validate_permission_for_resource_type(permission, RESOURCE_TYPE_SCORER)
        pattern = self._scorer_pattern(experiment_id, scorer_name)
        user_id, _ = self._create_grant(
            RESOURCE_TYPE_SCORER, pattern, username, permission,
            lambda _: f"Scorer permission (experiment_id={experiment_id}, "
            f"scorer_name={scorer_name}, username={username}) already exists.",
        )  # fmt: skip
        return ScorerPermission(experiment_id, scorer_name, user_id, permission)

    def get_scorer_permission(
        self, experiment_id: str, scorer_name: str, username: str
    ) -> ScorerPermission:
        pattern = self._scorer_pattern(experiment_id, scorer_name)
        nf = self._scorer_nf(experiment_id, scorer_name, username)
        user_id, _, item = self._grant_row(RESOURCE_TYPE_SCORER, pattern, username, nf)
        return ScorerPermission(experiment_id, scorer_name, user_id, item["permission"])

    def list_scorer_permissions(self, username: str) -> list[ScorerPermission]:
        user_id, rows = self._list_grants(username, RESOURCE_TYPE_SCORER, every_workspace=True)
        out = []
        for r in rows:
            experiment_id, _, encoded = r["resource_pattern"].partition("/")
            out.append(ScorerPermission(experiment_id, unquote(encoded), user_id, r["permission"]))
        return out

    def update_scorer_permission(
        self, experiment_id: str, scorer_name: str, username: str, permission: str
    ) -> ScorerPermission:
        pattern = self._scorer_pattern(experiment_id, scorer_name)
        nf = self._scorer_nf(experiment_id, scorer_name, username)
        user_id, _ = self._update_grant(RESOURCE_TYPE_SCORER, pattern, username, permission, nf)
        return ScorerPermission(experiment_id, scorer_name, user_id, permission)

    def delete_scorer_permission(self, experiment_id: str, scorer_name: str, username: str):
        pattern = self._scorer_pattern(experiment_id, scorer_name)
        nf = self._scorer_nf(experiment_id, scorer_name, username)
        self._delete_grant(RESOURCE_TYPE_SCORER, pattern, username, nf)

    # ---- workspace permissions ---------------------------------------------------------
    def list_workspace_permissions(self, workspace_name: str) -> list[WorkspacePermission]:
        refs = self.grants.refs(RESOURCE_TYPE_WORKSPACE, "*", workspace_name)
        slots = self.roles.workspace_slots(int(r["role_id"]) for r in refs)
        return [
            WorkspacePermission(workspace_name, int(r["user_id"]), slot["permission"])
            for r in sorted(refs, key=lambda r: int(r["role_permission_id"]))
            if (slot := slots.get(int(r["role_id"]))) is not None and r.get("user_id") is not None
        ]

    def list_user_workspace_permissions(self, username: str) -> list[WorkspacePermission]:
        user_id = int(self._user_item(username)["user_id"])
        synthetic = [a for a in self.roles.user_assignments(user_id) if a.get("synthetic")]
        slots = self.roles.workspace_slots(int(a["role_id"]) for a in synthetic)
        rows = [slots[int(a["role_id"])] for a in synthetic if int(a["role_id"]) in slots]
        return [
            WorkspacePermission(r["workspace"], user_id, r["permission"])
            for r in sorted(rows, key=lambda r: int(r["role_permission_id"]))
        ]

    def set_workspace_permission(
        self, workspace_name: str, username: str, permission: str
    ) -> WorkspacePermission:
        _validate_permission_for_resource_type(permission, RESOURCE_TYPE_WORKSPACE)
        user_id = int(self._user_item(username)["user_id"])
        meta = self._ensure_role(user_id, workspace_name)
        self.grants.upsert(meta, RESOURCE_TYPE_WORKSPACE, "*", permission)
        return WorkspacePermission(workspace_name, user_id, permission)

    def delete_workspace_permission(self, workspace_name: str, username: str) -> None:
        user_id = int(self._user_item(username)["user_id"])
        meta = self.grants.synthetic_role(user_id, workspace_name)
        item = (
            None
            if meta is None
            else self.roles.permission_at(int(meta["role_id"]), RESOURCE_TYPE_WORKSPACE, "*")
        )
        if item is None:
            raise _missing(
                "Workspace permission does not exist for "
                f"workspace='{workspace_name}', username='{username}'"
            )
        self.roles.remove_permission(item)

    def delete_workspace_permissions_for_workspace(self, workspace_name: str) -> None:
        self.grants.delete_for_resource(RESOURCE_TYPE_WORKSPACE, "*", workspace_name)

    def list_accessible_workspace_names(self, username: str | None) -> set[str]:
        """Workspaces of the user's roles; a ``__user_<id>__`` role counts only when its
        ``(workspace, *)`` grant can read (as in the SQL store)."""
        if username is None:
            return set()
        user_id = int(self._user_item(username)["user_id"])
        assignments = self.roles.user_assignments(user_id)
        synthetic = [a for a in assignments if a.get("synthetic")]
        slots = self.roles.workspace_slots(int(a["role_id"]) for a in synthetic)
        accessible = {a["workspace"] for a in assignments if not a.get("synthetic")}
        accessible.update(
            a["workspace"]
            for a in synthetic
            if (slot := slots.get(int(a["role_id"]))) is not None
            and get_permission(slot["permission"]).can_read
        )
        return accessible

    def get_workspace_permission(self, workspace_name: str, username: str) -> Permission | None:
        user_id = int(self._user_item(username)["user_id"])
        meta = self.grants.synthetic_role(user_id, workspace_name)
        if meta is None:
            return None
        item = self.roles.permission_at(int(meta["role_id"]), RESOURCE_TYPE_WORKSPACE, "*")
        return None if item is None else get_permission(item["permission"])

    def get_role_workspace_permission(
        self, workspace_name: str, username: str
    ) -> Permission | None:
        user_id = int(self._user_item(username)["user_id"])
        assignments = self.roles.user_assignments(user_id, workspace_name)
        slots = self.roles.workspace_slots(int(a["role_id"]) for a in assignments)
        best: str | None = None
        for slot in slots.values():
            perm = slot["permission"]
            best = perm if best is None else max_permission(best, perm)
        return None if best is None else get_permission(best)
