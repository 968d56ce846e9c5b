"""Differences in what MLflow's search parsers (``mlflow.utils.search_utils``) return."""

from __future__ import annotations

from typing import Any


def numeric_literal(value: Any) -> Any:
    """A numeric literal of a filter as MLflow 3.17 parses it (int, or float with a point or
    exponent); MLflow before 3.17 hands back the token's text. Other values pass through."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value
