"""The entity id of a model version in the trigram postings of its tag values
(``model_version_tag_value``, repositories/registry/model_version_tag_values.py).

A posting's sort key names the version as ``<model id>#<version>``: the model id is stable
(a rename does not change it) and holds no ``#`` (lowercase hex), so the id splits back at
its last separator.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.keys import SEP


def version_entity_id(model_id: str, version: int) -> str:
    return f"{model_id}{SEP}{int(version)}"


def parse_version_entity_id(entity_id: str) -> tuple[str, int] | None:
    """(model id, version) of a posting's entity id; None when it is not one."""
    model_id, sep, number = entity_id.rpartition(SEP)
    if not sep or not model_id or not number.isdigit():
        return None
    return model_id, int(number)
