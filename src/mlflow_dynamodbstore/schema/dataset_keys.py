"""Key builders of MLflow 3 GenAI evaluation datasets (``mlflow.genai.datasets``).

One partition per dataset, ``EDS#<dataset_id>``: its META item, one link item per
experiment it is associated with, its records, and the part items of records too big for
one item. Nothing under the key grows with anything but the dataset itself.
docs/schema.md ("Evaluation datasets") describes the items.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import META, SEP, experiment_pk, workspace_pk

DATASET_LINK_PREFIX = f"EXP{SEP}"
DATASET_RECORD_PREFIX = f"R{SEP}"
# Part items of big records: "RP#" does not begin with "R#", so no record prefix read and no
# LSI3 listing (parts carry no LSI3 key) ever returns a part.
DATASET_RECORD_PART_PREFIX = f"RP{SEP}"


def dataset_pk(dataset_id: str) -> str:
    return f"EDS{SEP}{dataset_id}"


def dataset_key(dataset_id: str) -> dict[str, str]:
    return {"PK": dataset_pk(dataset_id), "SK": META}


def datasets_gsi_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}EDS"


def dataset_list_sk(created_time: int, dataset_id: str) -> str:
    return f"{encode_int(created_time)}{SEP}{dataset_id}"


def dataset_list_keys(workspace: str, created_time: int, dataset_id: str) -> dict[str, str]:
    """DATASETS_BY_CREATION: read backwards it is the SQL store's default order
    (created_time DESC, dataset_id DESC)."""
    return indexes.DATASETS_BY_CREATION.keys(
        datasets_gsi_pk(workspace), dataset_list_sk(created_time, dataset_id)
    )


def dataset_link_key(dataset_id: str, experiment_id: str) -> dict[str, str]:
    """The dataset's association with one experiment (SQL: an entity_associations row)."""
    return {"PK": dataset_pk(dataset_id), "SK": f"{DATASET_LINK_PREFIX}{experiment_id}"}


def datasets_by_experiment_pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}EDS"


def dataset_link_list_keys(experiment_id: str, dataset_id: str) -> dict[str, str]:
    """DATASETS_BY_EXPERIMENT: the datasets linked to one experiment."""
    return indexes.DATASETS_BY_EXPERIMENT.keys(datasets_by_experiment_pk(experiment_id), dataset_id)


def dataset_record_key(dataset_id: str, record_id: str) -> dict[str, str]:
    return {"PK": dataset_pk(dataset_id), "SK": f"{DATASET_RECORD_PREFIX}{record_id}"}


def dataset_record_order_sk(created_time: int, record_id: str) -> str:
    return f"{encode_int(created_time)}{SEP}{record_id}"


def dataset_record_order_keys(dataset_id: str, created_time: int, record_id: str) -> dict:
    """DATASET_RECORDS_BY_CREATION (a local index of the dataset's partition): the SQL
    store's record order (created_time, dataset_record_id), read strongly consistently."""
    return indexes.DATASET_RECORDS_BY_CREATION.keys(
        dataset_pk(dataset_id), dataset_record_order_sk(created_time, record_id)
    )


def dataset_record_part_key(
    dataset_id: str, record_id: str, generation: str, index: int
) -> dict[str, str]:
    """One piece of a big record's compressed body. ``generation`` is drawn per write of the
    record, so a rewrite's parts never mix with those of the version a reader holds."""
    return {
        "PK": dataset_pk(dataset_id),
        "SK": f"{DATASET_RECORD_PART_PREFIX}{record_id}{SEP}{generation}{SEP}{index:04d}",
    }
