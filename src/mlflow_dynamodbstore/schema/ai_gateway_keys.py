"""Keys of the AI gateway family (MLflow's gateway secrets, model definitions, endpoints).

Every item lives in a partition of its workspace, one per kind, so a listing is one
strongly consistent Query of the base table and an item of another workspace cannot even
be addressed:

- ``WS#<ws>#AIGW#SECRETS``: ``ID#<secret id>`` (the secret: ciphertext, wrapped data key,
  masked value, metadata) and ``NAME#<name part>`` (the name's uniqueness guard, holding
  the id).
- ``WS#<ws>#AIGW#MODELDEFS``: ``ID#<model definition id>`` and ``NAME#<name part>``.
- ``WS#<ws>#AIGW#ENDPOINTS``: ``E#<endpoint id>#`` (the endpoint),
  ``E#<endpoint id>#MAP#<linkage type>#<model definition id>`` (one model attached; the
  key is the SQL store's unique (endpoint, model definition, linkage type)),
  ``E#<endpoint id>#TAG#<key part>`` (one tag) and ``NAME#<name part>`` (the guard). One
  Query with ``begins_with(E#<endpoint id>#)`` reads an endpoint with its models and tags.

Names and tag keys are key parts written ``=<text>``, or ``~<sha256 hex>`` beyond 512
UTF-8 bytes (the item keeps the text itself). These partitions hold a workspace's gateway
configuration: tens to hundreds of small items, set by administrators.
"""

from __future__ import annotations

import hashlib

from mlflow_dynamodbstore.schema.keys import SEP, workspace_pk

TEXT_PART_BYTES = 512
ID_PREFIX = f"ID{SEP}"
NAME_PREFIX = f"NAME{SEP}"
ENDPOINT_PREFIX = f"E{SEP}"
MAPPING_MARK = f"MAP{SEP}"
TAG_MARK = f"TAG{SEP}"


def text_part(text: str) -> str:
    raw = str(text)
    if len(raw.encode("utf-8")) <= TEXT_PART_BYTES:
        return f"={raw}"
    return f"~{hashlib.sha256(raw.encode('utf-8')).hexdigest()}"


def plausible_id(value: object) -> bool:
    """Ids we issue are short and never contain the separator; anything else is unknown."""
    return isinstance(value, str) and 0 < len(value) <= 200 and SEP not in value


# ---- secrets ---------------------------------------------------------------------------
def secrets_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}SECRETS"


def secret_key(workspace: str, secret_id: str) -> dict[str, str]:
    return {"PK": secrets_pk(workspace), "SK": f"{ID_PREFIX}{secret_id}"}


def secret_name_key(workspace: str, name: str) -> dict[str, str]:
    return {"PK": secrets_pk(workspace), "SK": f"{NAME_PREFIX}{text_part(name)}"}


# ---- model definitions -----------------------------------------------------------------
def model_definitions_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}MODELDEFS"


def model_definition_key(workspace: str, model_definition_id: str) -> dict[str, str]:
    return {"PK": model_definitions_pk(workspace), "SK": f"{ID_PREFIX}{model_definition_id}"}


def model_definition_name_key(workspace: str, name: str) -> dict[str, str]:
    return {"PK": model_definitions_pk(workspace), "SK": f"{NAME_PREFIX}{text_part(name)}"}


# ---- endpoints -------------------------------------------------------------------------
def endpoints_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}ENDPOINTS"


def endpoint_prefix(endpoint_id: str) -> str:
    """The sort key prefix of one endpoint's items (the endpoint, its models, its tags)."""
    return f"{ENDPOINT_PREFIX}{endpoint_id}{SEP}"


def endpoint_key(workspace: str, endpoint_id: str) -> dict[str, str]:
    return {"PK": endpoints_pk(workspace), "SK": endpoint_prefix(endpoint_id)}


def endpoint_name_key(workspace: str, name: str) -> dict[str, str]:
    return {"PK": endpoints_pk(workspace), "SK": f"{NAME_PREFIX}{text_part(name)}"}


def mapping_key(
    workspace: str, endpoint_id: str, linkage_type: str, model_definition_id: str
) -> dict[str, str]:
    return {
        "PK": endpoints_pk(workspace),
        "SK": f"{endpoint_prefix(endpoint_id)}{MAPPING_MARK}{linkage_type}{SEP}"
        f"{model_definition_id}",
    }


def mappings_prefix(endpoint_id: str) -> str:
    return f"{endpoint_prefix(endpoint_id)}{MAPPING_MARK}"


def endpoint_tag_key(workspace: str, endpoint_id: str, key: str) -> dict[str, str]:
    return {
        "PK": endpoints_pk(workspace),
        "SK": f"{endpoint_prefix(endpoint_id)}{TAG_MARK}{text_part(key)}",
    }


def item_kind(sort_key: str) -> str:
    """What an item of an endpoints partition is: endpoint, mapping, guardrail (config),
    tag or name."""
    if sort_key.startswith(NAME_PREFIX):
        return "name"
    rest = sort_key[len(ENDPOINT_PREFIX) :]
    _, _, tail = rest.partition(SEP)
    if not tail:
        return "endpoint"
    if tail.startswith(MAPPING_MARK):
        return "mapping"
    if tail.startswith(GUARDRAIL_MARK):
        return "guardrail"
    return "tag"


# ---- endpoint bindings -------------------------------------------------------------------
BINDING_PREFIX = f"B{SEP}"


def bindings_pk(workspace: str) -> str:
    """``WS#<ws>#AIGW#BINDINGS`` / ``B#<endpoint id>#<resource type>#<resource id part>``:
    which resources (scorers...) use which endpoint."""
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}BINDINGS"


def endpoint_bindings_prefix(endpoint_id: str) -> str:
    return f"{BINDING_PREFIX}{endpoint_id}{SEP}"


def binding_key(
    workspace: str, endpoint_id: str, resource_type: str, resource_id: str
) -> dict[str, str]:
    return {
        "PK": bindings_pk(workspace),
        "SK": f"{endpoint_bindings_prefix(endpoint_id)}{text_part(resource_type)}{SEP}"
        f"{text_part(resource_id)}",
    }


# ---- guardrails --------------------------------------------------------------------------
GUARDRAIL_MARK = f"GR{SEP}"


def guardrails_pk(workspace: str) -> str:
    """``WS#<ws>#AIGW#GUARDRAILS`` / ``ID#<guardrail id>``: guardrails, in id order (the SQL
    store's listing order). An endpoint's guardrail configs live with the endpoint:
    ``E#<endpoint id>#GR#<guardrail id>`` in the endpoints partition."""
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}GUARDRAILS"


def guardrail_key(workspace: str, guardrail_id: str) -> dict[str, str]:
    return {"PK": guardrails_pk(workspace), "SK": f"{ID_PREFIX}{guardrail_id}"}


def guardrail_config_key(workspace: str, endpoint_id: str, guardrail_id: str) -> dict[str, str]:
    return {
        "PK": endpoints_pk(workspace),
        "SK": f"{endpoint_prefix(endpoint_id)}{GUARDRAIL_MARK}{guardrail_id}",
    }


# ---- budget policies ---------------------------------------------------------------------
def budgets_pk(workspace: str) -> str:
    """``WS#<ws>#AIGW#BUDGETS`` / ``ID#<budget policy id>``: in id order (SQL's listing)."""
    return f"{workspace_pk(workspace)}{SEP}AIGW{SEP}BUDGETS"


def budget_key(workspace: str, budget_policy_id: str) -> dict[str, str]:
    return {"PK": budgets_pk(workspace), "SK": f"{ID_PREFIX}{budget_policy_id}"}
