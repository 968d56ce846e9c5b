"""search_logged_models semantics, as MLflow's SqlAlchemyStore computes them on SQLite:
comparisons from ``mlflow.utils.search_logged_model_utils.parse_filter_string`` evaluated
against a model's META item and metric rows, and the SQL store's ORDER BY.

SQLite details that show in results are kept: LIKE is case-sensitive (MLflow sets
``PRAGMA case_sensitive_like``), ILIKE is not; an INTEGER column (``status``,
``experiment_id``) compared with text converts numeric-looking text to a number and is never
equal to other text; NULL matches nothing; NULLs sort last in both directions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.store.tracking.dbmodels.models import SqlLoggedModel
from mlflow.utils.search_logged_model_utils import Comparison, EntityType
from mlflow.utils.search_utils import SearchUtils

from mlflow_dynamodbstore.repositories.logged_models.metrics import row_value

Item = dict[str, Any]
COLUMNS = frozenset(SqlLoggedModel.__table__.columns.keys())
_INTEGER_COLUMNS = frozenset(
    {"status", "experiment_id", "creation_timestamp_ms", "last_updated_timestamp_ms"}
)
_SQLITE_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def attribute(meta: Item, column: str) -> Any:
    """The value of a ``logged_models`` column for a META item (None for NULL)."""
    value = meta.get(column)
    if value is None:
        return None
    return int(value) if column in _INTEGER_COLUMNS else value


def check_comparisons(comparisons: list[Comparison]) -> None:
    """The SQL store looks attributes up on SqlLoggedModel (and fails with an internal
    error for an unknown one); unknown attributes are bad input here."""
    for comp in comparisons:
        if comp.entity.type == EntityType.ATTRIBUTE and comp.entity.key not in COLUMNS:
            raise MlflowException.invalid_parameter_value(
                f"Invalid logged model search attribute: '{comp.entity.key}'."
            )


# ---- comparisons -----------------------------------------------------------------------
def sqlite_like(text: str, pattern: str, *, case_insensitive: bool) -> bool:
    """SQLite LIKE without ESCAPE: ``%`` any run of characters (newlines too), ``_`` one
    character; ILIKE (SQLAlchemy: ``lower(x) LIKE lower(y)``) folds ASCII letters only."""
    if case_insensitive:
        text, pattern = _ascii_lower(text), _ascii_lower(pattern)
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _as_integer_affinity(value: Any) -> Any:
    """SQLite's INTEGER affinity applied to a literal: numeric-looking text becomes a
    number, other text stays text."""
    if isinstance(value, str) and _SQLITE_NUMBER.match(value):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def _as_text(value: Any) -> Any:
    """SQLite's TEXT affinity applied to a literal."""
    return value if isinstance(value, str) else str(value)


def _equal(lhs: Any, rhs: Any) -> bool:
    # In SQLite a number never equals text.
    if isinstance(lhs, str) != isinstance(rhs, str):
        return False
    return lhs == rhs


def compare(lhs: Any, op: str, value: Any, *, integer: bool = False) -> bool:
    """``lhs <op> value`` as SQLite evaluates it (``integer``: lhs is an INTEGER column)."""
    if lhs is None:
        return False
    if op in ("LIKE", "ILIKE"):
        if not isinstance(value, str):
            raise MlflowException.invalid_parameter_value(
                f"Invalid value for the {op} operator: {value!r}. Expected a string pattern."
            )
        return sqlite_like(str(lhs), value, case_insensitive=op == "ILIKE")
    convert = _as_integer_affinity if integer else _as_text
    if op in ("IN", "NOT IN"):
        values = value if isinstance(value, tuple | list) else (value,)
        found = any(_equal(lhs, convert(v)) for v in values)
        return found if op == "IN" else not found
    if isinstance(value, str):
        value = convert(value)
    if op == "=":
        return _equal(lhs, value)
    if op == "!=":
        return not _equal(lhs, value)
    return SearchUtils.get_comparison_func(op)(lhs, value)


def dataset_filter(datasets: list[dict] | None) -> Callable[[Item], bool] | None:
    """Rows on any of the datasets (a present ``dataset_digest`` key must match, even when
    it is None: SQL ``dataset_digest = NULL`` is ``IS NULL`` in SQLAlchemy)."""
    if not datasets:
        return None

    def on_dataset(row: Item, dataset: dict) -> bool:
        if row.get("dataset_name") != dataset["dataset_name"]:
            return False
        return "dataset_digest" not in dataset or row.get("dataset_digest") == dataset.get(
            "dataset_digest"
        )

    return lambda row: any(on_dataset(row, d) for d in datasets)


def needs_metrics(comparisons: list[Comparison], datasets, order_by) -> bool:
    return (
        bool(datasets)
        or any(c.entity.type == EntityType.METRIC for c in comparisons)
        or any("." in (ob.get("field_name") or "") for ob in order_by or [])
    )


def matches(
    meta: Item,
    metrics: list[Item] | None,
    comparisons: list[Comparison],
    datasets: list[dict] | None,
) -> bool:
    """Does a model pass every comparison (and, without metric comparisons, have a metric
    on one of ``datasets``)? ``metrics`` may be None when nothing needs them."""
    on_datasets = dataset_filter(datasets)
    has_metric_comparison = False
    for comp in comparisons:
        kind, key = comp.entity.type, comp.entity.key
        if kind == EntityType.ATTRIBUTE:
            integer = key in _INTEGER_COLUMNS
            if not compare(attribute(meta, key), comp.op, comp.value, integer=integer):
                return False
        elif kind == EntityType.METRIC:
            has_metric_comparison = True
            if not any(
                row["key"] == key
                and compare(row_value(row), comp.op, comp.value)
                and (on_datasets is None or on_datasets(row))
                for row in metrics or []
            ):
                return False
        else:
            values = meta.get("params" if kind == EntityType.PARAM else "tags") or {}
            if not compare(values.get(key), comp.op, comp.value):
                return False
    if on_datasets is not None and not has_metric_comparison:
        return any(on_datasets(row) for row in metrics or [])
    return True


# ---- order -----------------------------------------------------------------------------
def check_order_by(order_by: list[dict] | None) -> None:
    """The SQL store's order-by validation (messages and codes)."""
    for ob in order_by or []:
        if not isinstance(ob, dict) or not isinstance(ob.get("field_name"), str):
            raise MlflowException.invalid_parameter_value(
                "`field_name` in the `order_by` clause must be specified."
            )
        field_name = ob["field_name"]
        if "." not in field_name:
            if SqlLoggedModel.ALIASES.get(field_name, field_name) not in COLUMNS:
                raise MlflowException.invalid_parameter_value(
                    f"Invalid order by field name: {field_name}",
                    error_class="ATTRIBUTE_NOT_FOUND",
                )
        elif field_name.split(".", 1)[0] != "metrics":
            raise MlflowException.invalid_parameter_value(
                f"Invalid order by field name: {field_name}. Only metrics are supported."
            )


def _orders_by(ob: dict, column: str, ascending: bool) -> bool:
    field_name = ob["field_name"]
    return (
        "." not in field_name
        and SqlLoggedModel.ALIASES.get(field_name, field_name) == column
        and bool(ob.get("ascending", True)) == ascending
    )


def in_listing_order(order_by: list[dict] | None) -> bool:
    """Is the requested order GSI4's (creation time DESC, then model id ASC)? That is the
    default and what the UI's Models tab asks for."""
    rest = list(order_by or [])
    if rest and _orders_by(rest[0], "creation_timestamp_ms", False):
        rest.pop(0)
    elif rest:
        return False
    if rest and _orders_by(rest[0], "model_id", True):
        rest.pop(0)
    return not rest


def _latest_metric_value(metrics: list[Item], name: str, ob: dict) -> float | None:
    """The value of the latest row of metric ``name`` (timestamp DESC, step DESC, run_id ASC)
    on the order's dataset, as the SQL store's ROW_NUMBER() subquery picks it."""
    rows = [
        r
        for r in metrics
        if r["key"] == name
        and (not ob.get("dataset_name") or r.get("dataset_name") == ob["dataset_name"])
        and (not ob.get("dataset_digest") or r.get("dataset_digest") == ob["dataset_digest"])
    ]
    if not rows:
        return None
    rows.sort(key=lambda r: r["run_id"])
    rows.sort(key=lambda r: (int(r["timestamp"]), int(r["step"])), reverse=True)
    return row_value(rows[0])


def sort_models(
    models: list[tuple[Item, list[Item] | None]], order_by: list[dict] | None
) -> list[tuple[Item, list[Item] | None]]:
    """(META, metric rows) pairs in the SQL store's order: each order-by key with NULLs
    last, then creation time DESC and model id ASC unless ordered by already."""
    keys: list[tuple[Callable[[tuple], Any], bool]] = []
    has_creation = has_model_id = False
    for ob in order_by or []:
        field_name = ob["field_name"]
        ascending = bool(ob.get("ascending", True))
        if "." not in field_name:
            column = SqlLoggedModel.ALIASES.get(field_name, field_name)
            has_creation |= column == "creation_timestamp_ms"
            has_model_id |= column == "model_id"
            keys.append((lambda m, c=column: attribute(m[0], c), ascending))
        else:
            name = field_name.split(".", 1)[1]
            keys.append((lambda m, n=name, o=ob: _latest_metric_value(m[1] or [], n, o), ascending))
    if not has_creation:
        keys.append((lambda m: attribute(m[0], "creation_timestamp_ms"), False))
    if not has_model_id:
        keys.append((lambda m: m[0]["model_id"], True))
    ordered = list(models)
    # Stable sorts from the least significant key to the most significant one.
    for key, ascending in reversed(keys):
        ordered.sort(key=lambda m, k=key: _sortable(k(m)), reverse=not ascending)
        ordered.sort(key=lambda m, k=key: k(m) is None)
    return ordered


def _sortable(value: Any) -> tuple:
    # NULLs are placed by the second sort; give them a key comparable with anything.
    return (0,) if value is None else (1, value)
