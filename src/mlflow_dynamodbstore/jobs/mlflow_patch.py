"""Make MLflow's job backend use ``DynamoDBJobStore`` for ``dynamodb://`` backends.

MLflow 3.17 has no entry point for job stores: ``mlflow.server.handlers._get_job_store``
builds a SQL job store or refuses the URI, and ``mlflow.server.jobs.utils._check_requirements``
refuses any backend URI that is not a SQL database. Both run in several processes the
``mlflow server`` command starts: the CLI process (the start-up check that decides whether
the job runner is launched), the web server workers (job submission, the job REST API), the
job runner, one Huey consumer per job function, the periodic-tasks consumer and each job's
own subprocess (progress updates). The one piece of this package that is imported in every
one of them, early, is the ``mlflow.tracking_store`` entry point module (``plugin.py``):
``import mlflow`` loads it. ``install()`` is called from there and registers two post-import
hooks (MLflow's own ``register_post_import_hook``) that, once the module is imported:

- ``mlflow.server.handlers``: wraps ``_get_job_store`` so that, while no job store is cached
  and the backend store URI (argument or ``_MLFLOW_SERVER_FILE_STORE``) is ``dynamodb://``,
  it caches a ``DynamoDBJobStore`` in ``handlers._job_store`` (MLflow's own cache) and then
  defers to MLflow's function, which returns the cached store. Any other URI: unchanged.
- ``mlflow.server.jobs.utils``: wraps ``_check_requirements`` so that a ``dynamodb://`` URI
  passes on the default (Huey) execution engine. The opt-in executor engine
  (``MLFLOW_SERVER_JOB_EXECUTION_ENGINE=executor``) keeps failing the check, with the reason:
  its lock manager (``server/jobs/lock_manager.py``) issues SQL against the job store's engine.

Every caller of both functions looks them up at call time (``from ... import`` inside the
calling function), except ``mlflow.server.jobs`` which binds ``_get_job_store`` when it is
first imported — after ``handlers`` is, so it binds the wrapper; ``_rebind`` also fixes a
module imported before the hook ran. The patch is applied only to the MLflow minor version it
was written against; on any other version it logs a warning and leaves MLflow unchanged (job
execution then stays unavailable on this backend, as without the patch).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any

_logger = logging.getLogger(__name__)

# The MLflow minor releases whose job wiring this patch was written against and tested on
# (the job store implements 3.17's AbstractJobStore: leases, progress; 3.16 has neither).
SUPPORTED_MLFLOW_MINORS = frozenset({(3, 17)})
SCHEME_PREFIX = "dynamodb://"
BACKEND_STORE_URI_ENV_VAR = "_MLFLOW_SERVER_FILE_STORE"  # mlflow.server.constants
EXECUTOR_ENGINE_REFUSAL = (
    "MLflow's 'executor' job execution engine is not available with a dynamodb:// backend "
    "store: its lock manager (mlflow/server/jobs/lock_manager.py) issues SQL statements. "
    "Unset MLFLOW_SERVER_JOB_EXECUTION_ENGINE to use the default engine"
)

_PATCHED = "__mlflow_dynamodbstore_patched__"


def is_dynamodb_uri(uri: Any) -> bool:
    return isinstance(uri, str) and uri.startswith(SCHEME_PREFIX)


def _mlflow_minor() -> tuple[int, int] | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("mlflow", "mlflow-skinny"):
        try:
            parts = version(dist).split(".")
            return int(parts[0]), int(parts[1])
        except (PackageNotFoundError, ValueError, IndexError):
            continue
    return None


def supported() -> bool:
    return _mlflow_minor() in SUPPORTED_MLFLOW_MINORS


def install() -> None:
    """Register the post-import hooks (idempotent; cheap: nothing is imported here)."""
    from mlflow.utils.import_hooks import register_post_import_hook

    register_post_import_hook(patch_handlers, "mlflow.server.handlers")
    register_post_import_hook(patch_job_utils, "mlflow.server.jobs.utils")


def _version_ok(module: Any) -> bool:
    if supported():
        return True
    _logger.warning(
        "mlflow-dynamodbstore: MLflow %s is not %s; %s is left unpatched, so MLflow's job "
        "execution stays unavailable on dynamodb:// backends.",
        ".".join(map(str, _mlflow_minor() or ("?",))),
        " or ".join(f"{a}.{b}" for a, b in sorted(SUPPORTED_MLFLOW_MINORS)),
        module.__name__,
    )
    return False


def patch_handlers(handlers: Any) -> None:
    original = getattr(handlers, "_get_job_store", None)
    if original is None or getattr(original, _PATCHED, False) or not _version_ok(handlers):
        return

    @functools.wraps(original)
    def _get_job_store(backend_store_uri: str | None = None) -> Any:
        if handlers._job_store is None:
            uri = backend_store_uri or os.environ.get(BACKEND_STORE_URI_ENV_VAR)
            if is_dynamodb_uri(uri):
                from mlflow_dynamodbstore.stores.job_store import DynamoDBJobStore

                handlers._job_store = DynamoDBJobStore(uri)
        return original(backend_store_uri)

    setattr(_get_job_store, _PATCHED, True)
    handlers._get_job_store = _get_job_store
    _rebind("mlflow.server.jobs", "_get_job_store", original, _get_job_store)


def patch_job_utils(utils: Any) -> None:
    original = getattr(utils, "_check_requirements", None)
    if original is None or getattr(original, _PATCHED, False) or not _version_ok(utils):
        return

    @functools.wraps(original)
    def _check_requirements(backend_store_uri: str | None = None) -> None:
        uri = backend_store_uri or os.environ.get(BACKEND_STORE_URI_ENV_VAR)
        if not is_dynamodb_uri(uri):
            return original(backend_store_uri)
        from mlflow.exceptions import MlflowException

        if os.name == "nt":
            raise MlflowException("MLflow job backend does not support Windows system.")
        if utils.get_job_execution_engine() == "executor":
            raise MlflowException(EXECUTOR_ENGINE_REFUSAL)
        return None

    setattr(_check_requirements, _PATCHED, True)
    utils._check_requirements = _check_requirements


def _rebind(module_name: str, attribute: str, old: Any, new: Any) -> None:
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, attribute, None) is old:
        setattr(module, attribute, new)
