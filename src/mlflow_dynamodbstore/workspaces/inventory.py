"""Everything a workspace owns, found through its listings (never a table Scan).

A workspace's items hang off a few roots, each listed by an index keyed on the workspace:

- experiments (both lifecycle stages), and under each experiment its runs (with their
  metric-history partitions), traces, logged models, dataset summaries and scorers (each
  scorer's partition holds its versions and online config);
- registered models (their partition holds the versions);
- evaluation datasets (their partition holds the experiment links and records);
- webhooks, live and deleted;
- jobs (MLflow's job backend: one item each, no children);
- the workspace partition itself: the workspace item and its name guards.

Reads go through a gateway scoped to the workspace, so an item of any other workspace can
never be listed here, whatever a key says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway
from mlflow_dynamodbstore.schema import dataset_keys, indexes, job_keys, keys, scorer_keys, table

Item = dict[str, Any]
STAGES = (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


@dataclass
class WorkspaceInventory:
    gateway: ScopedGateway
    workspace: str

    @classmethod
    def of(cls, gateway: TableGateway, workspace: str) -> WorkspaceInventory:
        return cls(ScopedGateway(gateway, keys.WORKSPACE_ATTRIBUTE, lambda: workspace), workspace)

    def _listing(self, pattern: indexes.AccessPattern, pk: str, **kwargs: Any) -> Iterator[Item]:
        return self.gateway.query(pattern.key_condition(pk, **kwargs), index=pattern.index)

    # ---- roots ---------------------------------------------------------------------
    def experiments(self) -> Iterator[Item]:
        """Experiment META items, active then deleted, oldest first within each."""
        for stage in STAGES:
            yield from self._listing(
                indexes.EXPERIMENTS_BY_CREATION, keys.experiments_gsi1pk(self.workspace, stage)
            )

    def registered_models(self) -> Iterator[Item]:
        return self._listing(
            indexes.REGISTERED_MODELS_BY_NAME, keys.registered_models_gsi1pk(self.workspace)
        )

    def evaluation_datasets(self) -> Iterator[Item]:
        return self._listing(
            indexes.DATASETS_BY_CREATION, dataset_keys.datasets_gsi_pk(self.workspace)
        )

    def webhooks(self) -> Iterator[Item]:
        """Webhook META items, live then soft-deleted (the SQL store keeps deleted rows)."""
        for deleted in (False, True):
            yield from self._listing(
                indexes.WEBHOOKS_BY_CREATION, keys.webhooks_gsi1pk(self.workspace, deleted=deleted)
            )

    def jobs(self) -> Iterator[Item]:
        return self._listing(indexes.JOBS_BY_CREATION, job_keys.jobs_pk(self.workspace))

    def model_versions(self) -> Iterator[Item]:
        return self._listing(
            indexes.MODEL_VERSIONS_BY_WORKSPACE, keys.model_versions_gsi1pk(self.workspace)
        )

    # ---- what hangs off an experiment ----------------------------------------------
    def runs(self, experiment_id: str) -> Iterator[Item]:
        return self._listing(indexes.RUNS_BY_START_TIME, keys.runs_gsi1pk(experiment_id))

    def traces(self, experiment_id: str) -> Iterator[Item]:
        return self._listing(indexes.TRACES_BY_TIMESTAMP, keys.traces_gsi3pk(experiment_id))

    def logged_models(self, experiment_id: str) -> Iterator[Item]:
        return self._listing(
            indexes.LOGGED_MODELS_BY_EXPERIMENT, keys.logged_models_gsi4pk(experiment_id)
        )

    def scorer_heads(self, experiment_id: str) -> list[Item]:
        """The experiment's scorers (their head items; the partition holds nothing else)."""
        return self.partition(scorer_keys.experiment_scorers_pk(experiment_id))

    def summary(self) -> dict[str, int]:
        """How many of each root the workspace has (what a deletion will process): the
        listings only, no partition reads."""
        counts = dict.fromkeys(
            (
                "experiments",
                "runs",
                "traces",
                "logged_models",
                "registered_models",
                "evaluation_datasets",
                "webhooks",
            ),
            0,
        )
        for experiment in self.experiments():
            experiment_id = str(experiment["experiment_id"])
            counts["experiments"] += 1
            counts["runs"] += sum(1 for _ in self.runs(experiment_id))
            counts["traces"] += sum(1 for _ in self.traces(experiment_id))
            counts["logged_models"] += sum(1 for _ in self.logged_models(experiment_id))
        counts["registered_models"] = sum(1 for _ in self.registered_models())
        counts["evaluation_datasets"] = sum(1 for _ in self.evaluation_datasets())
        counts["webhooks"] = sum(1 for _ in self.webhooks())
        return counts

    # ---- partitions ----------------------------------------------------------------
    def partition(self, pk: str) -> list[Item]:
        """Every item under one partition key (consistent: a rerun must see its own
        deletes)."""
        return list(self.partition_items(pk))

    def partition_items(self, pk: str) -> Iterator[Item]:
        """``partition`` read lazily, one Query page at a time (for partitions that may hold
        far more than fits in memory, such as a dataset's big records)."""
        return self.gateway.query(Key(table.PK).eq(pk), consistent=True)
