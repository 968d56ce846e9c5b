"""User strings (model names, span names, assessment values...) as parts of a rollup cell's
sort key (schema/view_rollup_keys.py, schema/cost_rollup_keys.py).

A string goes into the key as ``=<text>``; ``None`` as ``-``. One longer than 256 bytes or
holding the separator goes in as ``~<sha-256>`` — "~", not the separator, because keys are
split on "#" when parsed — and the cell carries the text in an attribute of its own.
"""

from __future__ import annotations

import hashlib

from mlflow_dynamodbstore.schema.keys import SEP

NONE = "-"
_MAX_LABEL_BYTES = 256


def label(text: str | None) -> tuple[str, str | None]:
    """(key label, the text when the key holds only its digest)."""
    if text is None:
        return NONE, None
    if len(text.encode("utf-8")) > _MAX_LABEL_BYTES or SEP in text:
        return "~" + hashlib.sha256(text.encode("utf-8")).hexdigest(), text
    return f"={text}", None


def unlabel(key_label: str, carried: str | None) -> str | None:
    """The string a label stands for (``carried``: the cell's attribute for a digest)."""
    if key_label == NONE:
        return None
    if key_label.startswith("~"):
        return carried
    return key_label[1:]
