"""A run's inputs (datasets with their input tags, logged models) and outputs (models).

They live in the run partition, so ``get_run``'s one Query returns them with META. A
dataset input copies the dataset (MLflow's ``Dataset`` has no id of its own), keyed by a
hash of (name, digest) so that logging it again is a no-op, as in the SQL store.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
)
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.runs.items import estimate_item_size
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]
# Datasets bigger than this keep source/schema/profile in binary parts of this size.
_INLINE_DATASET_BYTES = 350_000
_PART_BYTES = 350_000
_BLOB_FIELDS = ("source", "schema", "profile")
_IDENTITY_FIELDS = ("source_type", "source", "schema", "profile")


def input_id(name: str, digest: str) -> str:
    return hashlib.sha256(f"{name}\0{digest}".encode()).hexdigest()[:32]


class RunInputsRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def log_datasets(self, run_id: str, experiment_id: str, datasets: list[DatasetInput]) -> None:
        """Add dataset inputs the run does not have yet (first of equal (name, digest) wins,
        existing ones keep their tags), and the experiment's dataset summaries: 1 Query of the
        run's inputs + ⌈items / 25⌉ BatchWriteItem."""
        unique: dict[str, DatasetInput] = {}
        for dataset_input in datasets:
            ds = dataset_input.dataset
            unique.setdefault(input_id(ds.name, ds.digest), dataset_input)
        if not unique:
            return
        existing = {
            item["SK"]
            for item in self.gateway.query(
                Key("PK").eq(keys.run_pk(run_id)) & Key("SK").begins_with(keys.RUN_INPUT_PREFIX),
                consistent=True,
            )
        }
        new = {
            iid: dataset_input
            for iid, dataset_input in unique.items()
            if keys.run_input_key(run_id, iid)["SK"] not in existing
        }
        if not new:
            return
        first = self._as_first_logged(experiment_id, new)
        now = time.time_ns()
        items: list[Item] = []
        for order, (iid, dataset_input) in enumerate(unique.items()):
            if iid in new:
                dataset_input = DatasetInput(dataset=first[iid], tags=dataset_input.tags)
                items += _dataset_items(run_id, iid, dataset_input, now + order)
                items.append(_summary_item(experiment_id, dataset_input))
        self.gateway.batch_write(items)

    def _as_first_logged(
        self, experiment_id: str, inputs: dict[str, DatasetInput]
    ) -> dict[str, Dataset]:
        """Each dataset as the experiment first logged it: the SQL store keeps one dataset
        row per (experiment, name, digest) and links later inputs to it, so a later logging
        with another source or schema reads back the first one's. 1 consistent BatchGetItem,
        + 1 conditional PutItem per dataset new to the experiment (a lost race reads the
        winner's)."""
        found = {
            item["SK"]: item
            for item in self.gateway.batch_get(
                [keys.dataset_key(experiment_id, iid) for iid in inputs], consistent=True
            )
        }
        first: dict[str, Dataset] = {}
        for iid, dataset_input in inputs.items():
            item = found.get(iid) or self._claim(experiment_id, iid, dataset_input.dataset)
            first[iid] = _stored_dataset(item, dataset_input.dataset)
        return first

    def _claim(self, experiment_id: str, iid: str, dataset: Dataset) -> Item | None:
        fields = zlib.compress(
            json.dumps({f: getattr(dataset, f) for f in _IDENTITY_FIELDS}).encode("utf-8")
        )
        if len(fields) > _INLINE_DATASET_BYTES:
            return None  # beyond an item even compressed: each run keeps its own copy
        item = {
            **keys.dataset_key(experiment_id, iid),
            "name": dataset.name,
            "digest": dataset.digest,
            "fields": fields,
        }
        try:
            self.gateway.put_item(item, condition=Attr("PK").not_exists())
        except ConditionFailed as lost:
            return lost.item or self.gateway.get_item(keys.dataset_key(experiment_id, iid))
        return item

    def dataset_summaries(self, experiment_ids: list[str], limit: int) -> list[Item]:
        """Distinct (experiment, name, digest, context) of logged dataset inputs of the
        workspace's experiments among ``experiment_ids``: 1 BatchGetItem (the experiments)
        + 1 Query per experiment, stopping at ``limit`` in all."""
        visible = {
            item["experiment_id"]
            for item in self.gateway.batch_get(keys.experiment_key(i) for i in experiment_ids)
        }
        found: list[Item] = []
        for experiment_id in (i for i in experiment_ids if i in visible):
            pk = keys.dataset_summaries_pk(experiment_id)
            for item in self.gateway.query(Key("PK").eq(pk)):
                if len(found) >= limit:
                    return found
                found.append(item)
        return found

    def log_model_inputs(self, run_id: str, models: list[LoggedModelInput]) -> None:
        self.gateway.batch_write(
            {**keys.run_model_input_key(run_id, m.model_id), "model_id": m.model_id} for m in models
        )

    def log_model_outputs(self, run_id: str, models: list[LoggedModelOutput]) -> None:
        self.gateway.batch_write(
            # the SQL column is NOT NULL DEFAULT 0
            {**keys.run_output_key(run_id, m.model_id), "model_id": m.model_id, "step": m.step or 0}
            for m in models
        )


def _stored_dataset(item: Item | None, incoming: Dataset) -> Dataset:
    if item is None or "fields" not in item:
        return incoming
    fields = json.loads(zlib.decompress(bytes(item["fields"])).decode("utf-8"))
    return Dataset(name=incoming.name, digest=incoming.digest, **fields)


def _summary_item(experiment_id: str, dataset_input: DatasetInput) -> Item:
    ds = dataset_input.dataset
    context = next(
        (t.value for t in dataset_input.tags or [] if t.key == MLFLOW_DATASET_CONTEXT), None
    )
    summary_id = hashlib.sha256(
        json.dumps([ds.name, ds.digest, context]).encode("utf-8")
    ).hexdigest()[:32]
    return {
        **keys.dataset_summary_key(experiment_id, summary_id),
        "experiment_id": experiment_id,
        "name": ds.name,
        "digest": ds.digest,
        "context": context,
    }


def _dataset_items(run_id: str, iid: str, dataset_input: DatasetInput, order: int) -> list[Item]:
    ds = dataset_input.dataset
    item: Item = {
        **keys.run_input_key(run_id, iid),
        "run_id": run_id,
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
        "schema": ds.schema,
        "profile": ds.profile,
        "tags": [{"key": t.key, "value": t.value} for t in dataset_input.tags or []],
        "order": order,
    }
    item = {k: v for k, v in item.items() if v is not None}
    if estimate_item_size(item) <= _INLINE_DATASET_BYTES:
        return [item]
    # Too big for one item: the large fields go to binary parts read back by get_run.
    blob = json.dumps({f: item.pop(f, None) for f in _BLOB_FIELDS}).encode("utf-8")
    parts = [blob[i : i + _PART_BYTES] for i in range(0, len(blob), _PART_BYTES)]
    item["parts"] = len(parts)
    return [item] + [
        {**keys.run_input_part_key(run_id, iid, n), "data": part} for n, part in enumerate(parts)
    ]


def to_run_inputs(
    items: list[Item],
) -> tuple[list[DatasetInput], list[LoggedModelInput], list[LoggedModelOutput]]:
    """Entities from the run partition's non-META items (as ``get_partition`` returns)."""
    parts: dict[str, list[tuple[str, bytes]]] = {}
    datasets: list[Item] = []
    model_inputs: list[LoggedModelInput] = []
    outputs: list[LoggedModelOutput] = []
    for item in items:
        sk = item["SK"]
        if owner := keys.run_input_sk_of_part(sk):
            parts.setdefault(owner, []).append((sk, bytes(item["data"])))
        elif sk.startswith(keys.RUN_INPUT_PREFIX):
            datasets.append(item)
        elif sk.startswith(keys.RUN_MODEL_INPUT_PREFIX):
            model_inputs.append(LoggedModelInput(model_id=item["model_id"]))
        elif sk.startswith(keys.RUN_OUTPUT_PREFIX):
            outputs.append(
                LoggedModelOutput(model_id=item["model_id"], step=int(item.get("step") or 0))
            )
    dataset_inputs = []
    for item in sorted(datasets, key=lambda i: int(i.get("order", 0))):
        if item.get("parts"):
            blob = b"".join(data for _, data in sorted(parts.get(item["SK"], [])))
            item = {**item, **json.loads(blob.decode("utf-8"))}
        dataset = Dataset(
            name=item["name"],
            digest=item["digest"],
            source_type=item["source_type"],
            source=item["source"],
            schema=item.get("schema"),
            profile=item.get("profile"),
        )
        tags = [InputTag(key=t["key"], value=t["value"]) for t in item.get("tags", [])]
        dataset_inputs.append(DatasetInput(dataset=dataset, tags=tags))
    return dataset_inputs, model_inputs, outputs
