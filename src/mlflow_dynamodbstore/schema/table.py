"""The one table definition, used by both CloudFormation and direct CreateTable.

Key attributes are generic (``PK``/``SK``, ``GSInPK``/``GSInSK``, ``LSInSK``) so item
families can overload them; schema/indexes.py names the access patterns over these indexes,
and docs/schema.md says which family uses which index for what and which are reserved.
"""

from __future__ import annotations

import json
from typing import Any

PK = "PK"
SK = "SK"
TTL_ATTRIBUTE = "ttl"

GSI_COUNT = 5
LSI_COUNT = 5


def gsi_name(n: int) -> str:
    return f"GSI{n}"


def gsi_pk(n: int) -> str:
    return f"GSI{n}PK"


def gsi_sk(n: int) -> str:
    return f"GSI{n}SK"


def lsi_name(n: int) -> str:
    return f"LSI{n}"


def lsi_sk(n: int) -> str:
    return f"LSI{n}SK"


def _attribute_definitions() -> list[dict[str, str]]:
    names = [PK, SK]
    for n in range(1, GSI_COUNT + 1):
        names += [gsi_pk(n), gsi_sk(n)]
    names += [lsi_sk(n) for n in range(1, LSI_COUNT + 1)]
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def _gsis() -> list[dict[str, Any]]:
    return [
        {
            "IndexName": gsi_name(n),
            "KeySchema": [
                {"AttributeName": gsi_pk(n), "KeyType": "HASH"},
                {"AttributeName": gsi_sk(n), "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for n in range(1, GSI_COUNT + 1)
    ]


def _lsis() -> list[dict[str, Any]]:
    return [
        {
            "IndexName": lsi_name(n),
            "KeySchema": [
                {"AttributeName": PK, "KeyType": "HASH"},
                {"AttributeName": lsi_sk(n), "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for n in range(1, LSI_COUNT + 1)
    ]


def create_table_request(table_name: str) -> dict[str, Any]:
    """Arguments for ``CreateTable`` (the local-endpoint path)."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": _attribute_definitions(),
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": _gsis(),
        "LocalSecondaryIndexes": _lsis(),
        "BillingMode": "PAY_PER_REQUEST",
    }


def cloudformation_template(table_name: str) -> str:
    """A CloudFormation template owning the same table, with TTL enabled."""
    request = create_table_request(table_name)
    properties: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": request["AttributeDefinitions"],
        "KeySchema": request["KeySchema"],
        "GlobalSecondaryIndexes": request["GlobalSecondaryIndexes"],
        "LocalSecondaryIndexes": request["LocalSecondaryIndexes"],
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"MLflow DynamoDB store table {table_name} (mlflow-dynamodbstore)",
        "Resources": {
            "MlflowTable": {
                "Type": "AWS::DynamoDB::Table",
                # Deleting the stack must never delete the experiment data with it.
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": properties,
            }
        },
        "Outputs": {
            "TableName": {"Value": {"Ref": "MlflowTable"}},
            "TableArn": {"Value": {"Fn::GetAtt": ["MlflowTable", "Arn"]}},
        },
    }
    return json.dumps(template, indent=2, sort_keys=True)


def index_key_attributes() -> dict[str, tuple[str, ...]]:
    """Each secondary index's key attributes beyond the table's (an item is in the index
    when it carries them all): what gateway/aws_write_units.py needs to bill index writes."""
    found: dict[str, tuple[str, ...]] = {
        gsi_name(n): (gsi_pk(n), gsi_sk(n)) for n in range(1, GSI_COUNT + 1)
    }
    found.update({lsi_name(n): (lsi_sk(n),) for n in range(1, LSI_COUNT + 1)})
    return found
