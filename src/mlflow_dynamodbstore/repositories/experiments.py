"""Experiments: the META item, its name guard and the per-workspace listing (GSI1)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import Experiment, ExperimentTag, LifecycleStage
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.schema import keys

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = Experiment.DEFAULT_EXPERIMENT_NAME
EXPERIMENT_COUNTER = "EXPERIMENT"


class ExperimentNameTaken(Exception):
    """Another experiment in the workspace already has this name."""


class ExperimentRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def allocate_id(self) -> str:
        """Next experiment id from an atomic counter (ids 1, 2, 3... as in MLflow's SQL store;
        0 is the Default experiment)."""
        attrs = self.gateway.update_item(
            keys.counter_key(EXPERIMENT_COUNTER),
            "ADD #u_value :u_one",
            names={"#u_value": "value"},
            values={":u_one": 1},
            return_values="UPDATED_NEW",
        )
        assert attrs is not None
        return str(int(attrs["value"]))

    def create(
        self,
        *,
        experiment_id: str,
        workspace: str,
        name: str,
        artifact_location: str,
        creation_time: int,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Write the experiment and its name guard in one transaction; raise
        ExperimentNameTaken if the name is in use in the workspace."""
        item = {
            **keys.experiment_key(experiment_id),
            **keys.experiment_list_keys(workspace, LifecycleStage.ACTIVE, experiment_id),
            "experiment_id": experiment_id,
            "workspace": workspace,
            "name": name,
            "artifact_location": artifact_location,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "creation_time": creation_time,
            "last_update_time": creation_time,
            "tags": dict(tags or {}),
        }
        guard = {
            **keys.experiment_name_key(workspace, name),
            "experiment_id": experiment_id,
        }
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_put(guard, Attr("PK").not_exists()),
                    self.gateway.tx_put(item, Attr("PK").not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise ExperimentNameTaken(name) from None
            raise

    def ensure_default(self, artifact_location: str, creation_time: int) -> None:
        """Create experiment 0 "Default" in the default workspace unless it exists."""
        with contextlib.suppress(ExperimentNameTaken):
            self.create(
                experiment_id=DEFAULT_EXPERIMENT_ID,
                workspace=DEFAULT_WORKSPACE_NAME,
                name=DEFAULT_EXPERIMENT_NAME,
                artifact_location=artifact_location,
                creation_time=creation_time,
            )

    def get(self, experiment_id: str) -> dict[str, Any] | None:
        return self.gateway.get_item(keys.experiment_key(experiment_id))

    def get_id_by_name(self, workspace: str, name: str) -> str | None:
        guard = self.gateway.get_item(keys.experiment_name_key(workspace, name))
        return guard["experiment_id"] if guard else None

    def list_in_workspace(self, workspace: str, lifecycle_stage: str | None = None):
        """All experiment items of a workspace (optionally one lifecycle stage), via GSI1."""
        condition = Key("GSI1PK").eq(keys.experiments_gsi1pk(workspace))
        if lifecycle_stage:
            condition &= Key("GSI1SK").begins_with(f"{lifecycle_stage}{keys.SEP}")
        return self.gateway.query(condition, index="GSI1")


def to_experiment(item: dict[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=item["experiment_id"],
        name=item["name"],
        artifact_location=item["artifact_location"],
        lifecycle_stage=item["lifecycle_stage"],
        tags=[ExperimentTag(k, v) for k, v in (item.get("tags") or {}).items()],
        creation_time=_int(item.get("creation_time")),
        last_update_time=_int(item.get("last_update_time")),
        workspace=item.get("workspace"),
    )


def _int(value: Decimal | int | None) -> int | None:
    return None if value is None else int(value)
