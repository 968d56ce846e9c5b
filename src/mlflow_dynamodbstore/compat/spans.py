"""Span entities across MLflow releases."""

from __future__ import annotations

import json

from mlflow.entities.span import LazySpan


def span_from_stored_content(content: str) -> LazySpan:
    """A span from its stored JSON, as MLflow's SQL store reads a ``spans.content`` row."""
    if hasattr(LazySpan, "from_stored_content"):  # MLflow 3.17+
        return LazySpan.from_stored_content(content)
    # Before 3.17, as its SqlAlchemyStore did: translate, then wrap the dict.
    from mlflow.tracing.otel.translation import translate_loaded_span

    return LazySpan(translate_loaded_span(json.loads(content)))
