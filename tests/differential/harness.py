"""The differential harness: run one scenario against MLflow's SqlAlchemyStore (SQLite) and
against DynamoDBTrackingStore, and compare what came out after normalising the parts that
legitimately differ (generated ids, clock readings, the artifact root).

A scenario is ``fn(store) -> result`` (or it raises MlflowException). Register it with
``@scenario`` or ``add(name, fn)`` in a module under ``tests/differential/scenarios/``.
Use ``attempt(...)`` inside a scenario to record an error and carry on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mlflow.entities import RunData
from mlflow.entities._mlflow_object import _MlflowObject
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

ScenarioFn = Callable[[Any], Any]

# Timestamps at or above this came from a clock (the fake clock starts far above it);
# scenarios set explicit timestamps below it, and those are compared as they are.
CLOCK_FLOOR = 10**12
_TIME_FIELD = re.compile(r"(^|_)(time|timestamp)$")
_EXPERIMENT_ID_FIELDS = {"experiment_id", "experiment_ids"}
_RUN_ID_FIELDS = {"run_id", "run_uuid"}
_RUN_ID_IN_TEXT = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass
class Scenario:
    name: str
    fn: ScenarioFn
    # Compare MlflowException messages too, not just error codes.
    messages: bool = False
    # Someone else's unfinished area: pytest xfail(strict=True) with this reason.
    xfail: str | None = None
    # Deliberate, documented deviations: SQL store's error code -> the code we return.
    deviations: dict[str, str] = field(default_factory=dict)
    # (release, why): the SQL reference answers this as the store does only from that MLflow
    # release on (a fix or feature of SqlAlchemyStore); skipped before it (tests/compat.py).
    reference_since: tuple[str, str] | None = None
    # Run with MLFLOW_ENABLE_WORKSPACES=true (the SQL side is WorkspaceAwareSqlAlchemyStore).
    workspaces: bool = False
    # The scenario module's short name ("experiments", "runs"...): ids are "<group>/<name>".
    group: str = ""

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name


SCENARIOS: list[Scenario] = []


def add(name: str, fn: ScenarioFn, **options: Any) -> Scenario:
    options.setdefault("group", fn.__module__.rpartition(".")[2])
    s = Scenario(name, fn, **options)
    if any(other.id == s.id for other in SCENARIOS):
        raise ValueError(f"duplicate scenario {s.id!r}")
    SCENARIOS.append(s)
    return s


def scenario(name: str | None = None, **options: Any):
    """Decorator form of ``add``; the function name is the default scenario name."""

    def register(fn: ScenarioFn) -> ScenarioFn:
        add(name or fn.__name__, fn, **options)
        return fn

    return register


@dataclass
class Failed:
    """An MlflowException (or any other exception) raised by a step of a scenario."""

    error_code: str
    message: str
    exception_type: str = "MlflowException"


def attempt(fn: Callable[[], Any]) -> Any:
    """Run one step; return its result, or a Failed describing the error it raised."""
    try:
        return fn()
    except MlflowException as exc:
        return Failed(exc.error_code, exc.message)
    except Exception as exc:  # a non-MLflow error is a bug; record it so the diff shows it
        return Failed("<not an MlflowException>", repr(exc), type(exc).__name__)


# ---- entities to plain data ----------------------------------------------------------
def to_plain(value: Any) -> Any:
    """MLflow entities, paged lists, Decimals... to dicts, lists and scalars."""
    if isinstance(value, Failed):
        return {"error": value.error_code, "message": value.message, "type": value.exception_type}
    if isinstance(value, PagedList):
        # tokens are opaque and need not be equal: only whether there is a next page
        return {"items": [to_plain(v) for v in value], "token": "<token>" if value.token else None}
    if isinstance(value, RunData):
        # .metrics keeps only values; the metric objects carry step and timestamp too.
        return {
            "metrics": [to_plain(m) for m in value._metric_objs],
            "params": dict(value.params),
            "tags": dict(value.tags),
        }
    if isinstance(value, _MlflowObject):
        # every property along the class hierarchy (MlflowObject iterates only the class's
        # own, which loses a subclass's inherited fields, e.g. MetricWithRunId's key/value)
        names = sorted(
            {n for k in type(value).__mro__ for n, a in vars(k).items() if isinstance(a, property)}
        )
        return {n: to_plain(getattr(value, n)) for n in names}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if hasattr(value, "to_dictionary") and callable(value.to_dictionary):
        return to_plain(value.to_dictionary())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


# ---- normalisation -------------------------------------------------------------------
class Normaliser:
    """Replaces ids by placeholders in order of appearance, clock readings by ``<time>``,
    the artifact root by ``<root>``; sorts key/value lists (tags, params, metrics) by key
    (stably, so a metric history keeps its order)."""

    def __init__(self, artifact_roots: list[str], compare_messages: bool):
        self.roots = sorted({r.rstrip("/") for r in artifact_roots if r}, key=len, reverse=True)
        self.compare_messages = compare_messages
        self.experiment_ids: dict[str, str] = {}
        self.run_ids: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        self._collect(value)
        return self._rewrite(value)

    def _collect(self, value: Any, key: str | None = None) -> None:
        """First pass: learn the ids in order of appearance."""
        if isinstance(value, dict):
            for k, v in value.items():
                self._collect(v, k)
        elif isinstance(value, list):
            for v in value:
                self._collect(v, key)
        elif isinstance(value, str):
            if key in _EXPERIMENT_ID_FIELDS:
                self.experiment_ids.setdefault(value, f"<exp{len(self.experiment_ids)}>")
            elif key in _RUN_ID_FIELDS:
                self.run_ids.setdefault(value, f"<run{len(self.run_ids)}>")
            elif key == "message":
                # error messages name runs by id ("The run <id> must be in the 'active'...")
                for run_id in _RUN_ID_IN_TEXT.findall(value):
                    self.run_ids.setdefault(run_id, f"<run{len(self.run_ids)}>")

    def _rewrite(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            out = {k: self._rewrite(v, k) for k, v in value.items()}
            if "error" in out and "message" in out and not self.compare_messages:
                out.pop("message")
            return out
        if isinstance(value, list):
            items = [self._rewrite(v, key) for v in value]
            if items and all(isinstance(i, dict) and "key" in i for i in items):
                items.sort(key=lambda i: str(i["key"]))
            return items
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int) and key and _TIME_FIELD.search(key) and value >= CLOCK_FLOOR:
            return "<time>"
        if isinstance(value, str):
            if key in _EXPERIMENT_ID_FIELDS:
                return self.experiment_ids.get(value, value)
            if key in _RUN_ID_FIELDS:
                return self.run_ids.get(value, value)
            return self._rewrite_text(value)
        return value

    def _rewrite_text(self, text: str) -> str:
        for root in self.roots:
            if root in text:
                text = text.replace(root, "<root>")
        for run_id, placeholder in self.run_ids.items():
            if run_id in text:
                text = text.replace(run_id, placeholder)
        if text.startswith("<root>/"):
            # <root>/<experiment id>/... : the id segment follows the same mapping
            head, _, rest = text[len("<root>/") :].partition("/")
            if head in self.experiment_ids:
                text = "/".join(filter(None, ["<root>", self.experiment_ids[head], rest]))
        return text


def outcome(
    scenario: Scenario, store: Any, artifact_roots: list[str], *, reference: bool = False
) -> Any:
    """Run the scenario on one store and return its normalised outcome. On the reference
    (SQL) store, error codes listed in ``scenario.deviations`` become the codes we return."""
    raw = attempt(lambda: scenario.fn(store))
    result = Normaliser(artifact_roots, scenario.messages)(to_plain(raw))
    if not scenario.deviations:
        return result
    # On the reference side the SQL code becomes ours; on both sides the message of such
    # an error is dropped (the SQL text is what we deliberately do not copy).
    codes = scenario.deviations if reference else {v: v for v in scenario.deviations.values()}
    return _apply_deviations(result, codes)


def _apply_deviations(value: Any, codes: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _apply_deviations(v, codes) for k, v in value.items()}
        if out.get("error") in codes:
            out["error"] = codes[out["error"]]
            out.pop("message", None)
        return out
    if isinstance(value, list):
        return [_apply_deviations(v, codes) for v in value]
    return value
