"""Label schemas: ``LS#<id>`` / ``META`` items, listed per experiment (GSI1), with a name
guard per (experiment, name) in the experiment's partition.

The input configuration is kept as the SQL store keeps it (a discriminator and a JSON
document, through MLflow's own ``_input_to_dict``/``_input_from_dict``), so every input type
round-trips exactly and numbers never meet DynamoDB's Decimal.
"""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.compat.helpers import _input_from_dict, _input_to_dict
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.labeling.name_guards import put_with_name_guard
from mlflow_dynamodbstore.repositories.labeling.pages import Page, encode_token, read_page
from mlflow_dynamodbstore.schema import indexes, labeling_keys

Item = dict[str, Any]


class LabelSchemaNameTaken(Exception):
    pass


class LabelSchemaMissing(Exception):
    pass


def input_columns(input_obj: Any) -> Item:
    input_type, input_config = _input_to_dict(input_obj)
    return {"input_type": input_type, "input_config": input_config}


class LabelSchemaRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- reads -----------------------------------------------------------------------
    def get(self, schema_id: str) -> Item | None:
        if not _usable_key_part(schema_id):
            return None  # not an id we could have issued; DynamoDB would refuse the key
        return self.gateway.get_item(labeling_keys.label_schema_key(schema_id))

    def get_by_name(self, experiment_id: str, name: str) -> Item | None:
        """Guard, then item: two strongly consistent GetItems."""
        if not _usable_key_part(name):
            return None
        guard = self.gateway.get_item(labeling_keys.label_schema_name_key(experiment_id, name))
        return self.get(guard["schema_id"]) if guard else None

    def existing_ids(self, experiment_id: str, schema_ids: list[str]) -> set[str]:
        """The ids among these that are schemas of the experiment (one BatchGetItem per 100)."""
        usable = [s for s in schema_ids if _usable_key_part(s)]
        found = self.gateway.batch_get(
            [labeling_keys.label_schema_key(s) for s in usable], consistent=True
        )
        return {i["schema_id"] for i in found if str(i["experiment_id"]) == experiment_id}

    def list_page(self, experiment_id: str, max_results: int, page_token: str | None) -> Page:
        return read_page(
            self.gateway,
            indexes.LABEL_SCHEMAS_BY_CREATION,
            labeling_keys.label_schemas_gsi1pk(experiment_id),
            max_results=max_results,
            page_token=page_token,
        )

    @staticmethod
    def with_seeded(page: Page, seeded: Item, max_results: int) -> tuple[list[Item], str | None]:
        """A first page that includes the default question this call just wrote: the
        listing index may not show it yet (GSIs lag their table). It is the newest schema,
        so it goes first, and the token follows the page's new last item."""
        if any(i["schema_id"] == seeded["schema_id"] for i in page.items):
            return page.items, page.token
        merged = [seeded, *page.items]
        if len(merged) <= max_results:
            return merged, page.token
        cut = merged[:max_results]
        return cut, encode_token(indexes.LABEL_SCHEMAS_BY_CREATION.sort_key(cut[-1]))

    def has_name(self, experiment_id: str, name: str) -> bool:
        key = labeling_keys.label_schema_name_key(experiment_id, name)
        return self.gateway.get_item(key) is not None

    # ---- writes ----------------------------------------------------------------------
    def create(self, item: Item) -> Item:
        """Put the schema and its name guard in one transaction; LabelSchemaNameTaken if
        the experiment already has the name (the loser of a race gets it too)."""
        experiment_id, created = item["experiment_id"], int(item["created_time"])
        full = {
            **labeling_keys.label_schema_key(item["schema_id"]),
            **labeling_keys.label_schema_list_keys(experiment_id, created, item["schema_id"]),
            **item,
        }
        guard = {
            **labeling_keys.label_schema_name_key(experiment_id, item["name"]),
            "schema_id": item["schema_id"],
            "workspace": item["workspace"],
        }
        put_with_name_guard(self.gateway, guard, full, LabelSchemaNameTaken(item["name"]))
        return full

    def update(self, current: Item, fields: Item) -> Item:
        """SET ``fields``; a new ``name`` moves the guard in the same transaction."""
        schema_id, experiment_id = current["schema_id"], current["experiment_id"]
        expression, names, values = set_expression(fields)
        key = labeling_keys.label_schema_key(schema_id)
        new_name = fields.get("name")
        if new_name is None or new_name == current["name"]:
            try:
                self.gateway.update_item(
                    key, expression, names=names, values=values, condition=Attr("PK").exists()
                )
            except ConditionFailed:
                raise LabelSchemaMissing(schema_id) from None
            return {**current, **fields}
        guard = {
            **labeling_keys.label_schema_name_key(experiment_id, new_name),
            "schema_id": schema_id,
            "workspace": current["workspace"],
        }
        old_guard = labeling_keys.label_schema_name_key(experiment_id, current["name"])
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_put(guard, Attr("PK").not_exists()),
                    self.gateway.tx_delete(old_guard, Attr("schema_id").eq(schema_id)),
                    self.gateway.tx_update(
                        key,
                        expression,
                        names=names,
                        values=values,
                        condition=Attr("name").eq(current["name"]),
                    ),
                ]
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise LabelSchemaNameTaken(new_name) from None
            if failed:
                raise LabelSchemaMissing(schema_id) from None
            raise
        return {**current, **fields}

    def delete(self, item: Item) -> None:
        """Remove the schema and its guard (a schema deleted meanwhile is no error)."""
        guard = labeling_keys.label_schema_name_key(item["experiment_id"], item["name"])
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(guard, Attr("schema_id").eq(item["schema_id"])),
                    self.gateway.tx_delete(labeling_keys.label_schema_key(item["schema_id"])),
                ]
            )
        except TransactionCancelled as exc:
            if not exc.is_condition_failure:
                raise


def to_label_schema(item: Item):
    # Imported late: mlflow.genai pulls in much of MLflow at import time.
    from mlflow.genai.label_schemas.label_schemas import LabelSchema, LabelSchemaType

    return LabelSchema(
        name=item["name"],
        type=LabelSchemaType(item["type"]),
        input=_input_from_dict(item["input_type"], json.loads(item["input_config"])),
        instruction=item.get("instruction"),
        enable_comment=bool(item.get("enable_comment", False)),
        schema_id=item["schema_id"],
        experiment_id=str(item["experiment_id"]),
        created_by=item.get("created_by"),
        created_at=int(item["created_time"]),
        updated_at=int(item["last_update_time"]),
        is_default=bool(item.get("is_default", False)),
    )


def _usable_key_part(value: Any) -> bool:
    """A non-empty string short enough for a key (names are held to 250 characters)."""
    return isinstance(value, str) and 0 < len(value.encode()) <= 1000
