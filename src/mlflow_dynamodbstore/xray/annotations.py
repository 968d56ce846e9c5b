"""The X-Ray annotations that carry MLflow span facts (written by the span processor,
indexed by the ADOT collector, read back by the converter and the search fallback).

X-Ray annotation keys: up to 500 characters of letters, digits and underscores. The
collector's ``awsxray`` exporter turns every other character into ``_`` when it indexes an
attribute; ``annotation_key`` does the same, so names agree on both sides.
"""

from __future__ import annotations

import re

SPAN_NAME = "mlflow_span_name"
SPAN_TYPE = "mlflow_span_type"
SPAN_STATUS = "mlflow_span_status"
CHAT_MODEL = "mlflow_chat_model"
MODEL_NAME = "mlflow_model_name"
# What the processor always writes, in the order the docs list them.
FACT_ANNOTATIONS = (SPAN_NAME, SPAN_TYPE, SPAN_STATUS, CHAT_MODEL, MODEL_NAME)

MAX_KEY_LENGTH = 500
# X-Ray annotation string values are limited to 1,000 characters.
MAX_VALUE_LENGTH = 1000
_ILLEGAL = re.compile(r"[^A-Za-z0-9_]")


def annotation_key(name: str) -> str:
    """An X-Ray-legal annotation key for an attribute name (as the collector makes it)."""
    key = _ILLEGAL.sub("_", name)[:MAX_KEY_LENGTH]
    if not key:
        raise ValueError(f"'{name}' cannot be an X-Ray annotation key")
    return key


def escape_value(value: str) -> str:
    """A string literal for an X-Ray filter expression (``"..."``, quotes and backslashes
    escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
