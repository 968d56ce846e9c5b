"""GenAI scorer helpers across MLflow releases."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.genai.scorers.online.entities import OnlineScorer

try:
    from mlflow.genai.scorers.base import _serialized_scorer_is_custom_code
except ImportError:  # added in MLflow 3.17; copied from its genai/scorers/{base,scorer_utils}.py

    def _obj_has_call_source(obj: Any) -> bool:
        # Recurse so a decorator sub-scorer nested in an ensemble is detected too.
        if isinstance(obj, dict):
            if obj.get("call_source") is not None:
                return True
            return any(_obj_has_call_source(value) for value in obj.values())
        if isinstance(obj, list):
            return any(_obj_has_call_source(item) for item in obj)
        return False

    def _serialized_scorer_is_custom_code(serialized_scorer: Any) -> bool:
        """Whether a serialized scorer is a custom ``@scorer`` whose source runs via exec()."""
        if dataclasses.is_dataclass(serialized_scorer):
            data = dataclasses.asdict(serialized_scorer)
        elif isinstance(serialized_scorer, str):
            try:
                data = json.loads(serialized_scorer)
            except (json.JSONDecodeError, TypeError) as e:
                raise MlflowException.invalid_parameter_value(
                    f"Malformed serialized scorer: {e}"
                ) from e
        else:
            data = serialized_scorer
        return _obj_has_call_source(data)


_ONLINE_SCORER_FIELDS = {f.name for f in dataclasses.fields(OnlineScorer)}


def online_scorer(**fields: Any) -> OnlineScorer:
    """An ``OnlineScorer`` with the fields this release has (``scorer_version``: 3.17+)."""
    return OnlineScorer(**{k: v for k, v in fields.items() if k in _ONLINE_SCORER_FIELDS})


__all__ = ["_serialized_scorer_is_custom_code", "online_scorer"]
