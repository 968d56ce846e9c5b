"""``mlflow server --app-name dynamodb-auth``: MLflow's basic-auth app, its store replaced.

MLflow loads an ``mlflow.app`` entry point that is a function as a factory and calls it
without arguments in every server worker. The factory imports MLflow's basic-auth module
under this package's config (config.py), puts a DynamoDBAuthStore where the module keeps
its store (``mlflow.server.auth.store``, the one seam it has: every request hook, handler
and permission check reads the store from there), bootstraps the admin user and then runs
MLflow's own ``create_app``. Request handling is MLflow's, unchanged (one guard added: see
``_refuse_unusable_credentials_first``). The same bootstrap also runs once in the ``mlflow
server`` command before it starts workers (``_bootstrap_in_the_server_command``).
"""

from __future__ import annotations

from typing import Any

# The auth model this store mirrors (roles, __user_<id>__ grants, the store's methods).
REQUIRED_MLFLOW = "3.17"


APP_NAME = "dynamodb-auth"


def require_auth_model(what: str) -> None:
    """Refuse, clearly, on an MLflow older than the auth model this store implements (its
    modules import that model's names: DENY, resource patterns)."""
    from mlflow.exceptions import MlflowException

    from mlflow_dynamodbstore.compat import MLFLOW_VERSION, mlflow_at_least

    if not mlflow_at_least(REQUIRED_MLFLOW):
        raise MlflowException(
            f"{what} needs MLflow {REQUIRED_MLFLOW} or later "
            f"(this is {MLFLOW_VERSION}): it implements that version's auth model."
        )


def create_app() -> Any:
    basic_auth, config = bootstrap()
    # MLflow's create_app bootstraps again (init_db is a no-op now, the admin exists).
    served = basic_auth.create_app()
    _refuse_unusable_credentials_first(basic_auth, config)
    return served


def bootstrap() -> tuple[Any, Any]:
    """What must hold before a request is served: MLflow new enough, the config readable,
    the secret key set, the table there and the admin user created. Returns MLflow's
    basic-auth module (its store replaced by ours) and the config."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    require_auth_model("--app-name dynamodb-auth")

    from mlflow_dynamodbstore.auth.config import import_basic_auth

    # First: mlflow.server.auth reads its config when first imported (and the store module
    # imports it), so it must be imported under ours.
    basic_auth, config = import_basic_auth()
    from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore

    basic_auth.get_flask_server_secret_key()
    store = DynamoDBAuthStore()
    basic_auth.store = store
    store.init_db(config.database_uri)
    # MLflow's bootstrap, made safe for many servers starting at once: the user record is
    # written conditionally, so exactly one server creates the admin; the others see
    # RESOURCE_ALREADY_EXISTS and go on with the admin that now exists. A missing (or the
    # known insecure default) admin password stops the start here, as in MLflow.
    try:
        basic_auth.create_admin_user(config.admin_username, config.admin_password)
    except MlflowException as e:
        exists = ErrorCode.Name(ErrorCode.RESOURCE_ALREADY_EXISTS)
        if e.error_code != exists or not store.has_user(config.admin_username):
            raise
    return basic_auth, config


def _bootstrap_in_the_server_command() -> None:
    """``bootstrap()`` in the ``mlflow server`` process itself, before it spawns workers.

    MLflow does this for ``--app-name basic-auth`` only (``_bootstrap_basic_auth``): a
    worker that fails to load the app is restarted by uvicorn's supervisor, so with several
    workers a missing admin password or secret key becomes an endless restart loop instead
    of one error. The command imports this module to see whether ``create_app`` is a factory
    (``mlflow.server._is_factory``), before any worker exists; that import is the one moment
    this package runs there, and click's context tells it is that command."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "server" or ctx.params.get("app_name") != APP_NAME:
        return
    import os

    from mlflow.server.constants import BACKEND_STORE_URI_ENV_VAR

    backend = ctx.params.get("backend_store_uri")
    previous = os.environ.get(BACKEND_STORE_URI_ENV_VAR)
    if backend:  # what the command hands its workers
        os.environ[BACKEND_STORE_URI_ENV_VAR] = backend
    try:
        bootstrap()
    finally:
        if previous is None:
            os.environ.pop(BACKEND_STORE_URI_ENV_VAR, None)
        else:
            os.environ[BACKEND_STORE_URI_ENV_VAR] = previous


BASIC_AUTH_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"


def _refuse_unusable_credentials_first(basic_auth: Any, config: Any) -> None:
    """A 401 for an ``Authorization`` header that is not a Basic user:password pair (a
    Bearer token, say), ahead of MLflow's hook. With ``auth_cache_ttl_seconds`` set,
    MLflow 3.17's basic-auth answers such a header with a 500 (its credential cache hashes
    the missing password); with the cache off it answers 401, as this does in both cases.
    Only for MLflow's own Basic authorization function: a configured one may accept other
    schemes."""
    if config.authorization_function != BASIC_AUTH_FUNCTION:
        return
    from flask import request

    def refuse_unusable_credentials() -> Any:
        credentials = request.authorization
        if (
            credentials is not None
            and (credentials.username is None or credentials.password is None)
            and not basic_auth.is_unprotected_route(request.path)
        ):
            return basic_auth.make_basic_auth_response()
        return None

    basic_auth.app.before_request_funcs.setdefault(None, []).insert(0, refuse_unusable_credentials)


_bootstrap_in_the_server_command()
