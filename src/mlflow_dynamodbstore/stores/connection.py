"""One connection (client, gateway, counters) per store URI per process, shared by the
tracking, registry and workspace stores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from mlflow_dynamodbstore.config import SettingsSource
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.source import TableSettingsSource
from mlflow_dynamodbstore.gateway import RequestStats, TableGateway
from mlflow_dynamodbstore.gateway.client import make_client, probe_client
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway
from mlflow_dynamodbstore.gateway.startup import StartupGate
from mlflow_dynamodbstore.provisioning import ensure_table
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.uri import DynamoDBUri, parse_dynamodb_uri


@dataclass
class Connection:
    uri: DynamoDBUri
    client: Any
    gateway: TableGateway
    # What features read for index patterns, FTS fields and retention (config/settings.py).
    settings: SettingsSource
    # Decrypted AI gateway endpoint configs (MLflow's SecretCache, built on first use): one
    # per process and URI, so a change made through any store instance clears it for all.
    _secret_cache: Any = field(default=None, repr=False, compare=False)
    _secret_cache_lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def xray_enabled(self) -> bool:
        """Spans come from AWS X-Ray when the table has none: the URI's ``?xray=`` if it
        says, else MLFLOW_DYNAMODB_XRAY (through the settings)."""
        if self.uri.xray is not None:
            return self.uri.xray
        return self.settings.current().xray

    @property
    def stats(self) -> RequestStats:
        return self.gateway.stats

    def when_ready(self, name: str, step: Callable[[], None]) -> None:
        """Run start-up work of a store (seeding) now, or, while DynamoDB is unavailable,
        before the first request that finds it back (gateway/startup.py)."""
        if self.gateway.gate is None:
            step()
        else:
            self.gateway.gate.add(name, step)

    def gateway_secret_cache(self) -> Any:
        """The process's cache of decrypted gateway endpoint configs for this table."""
        with self._secret_cache_lock:
            if self._secret_cache is None:
                from mlflow_dynamodbstore.compat.gateway import new_secret_cache

                self._secret_cache = new_secret_cache()
            return self._secret_cache

    def clear_gateway_secret_cache(self) -> None:
        """Forget every cached config (after a gateway change, as the SQL store does)."""
        if self._secret_cache is not None:
            self._secret_cache.clear()

    def workspace_scoped(self, active_workspace: Callable[[], str]) -> ScopedGateway:
        """The gateway every store operation uses: only the active workspace's items exist
        through it (``active_workspace`` is read at each call, from the request)."""
        return ScopedGateway(self.gateway, keys.WORKSPACE_ATTRIBUTE, active_workspace)


_connections: dict[str, Connection] = {}
_lock = threading.Lock()


def connect(
    store_uri: str,
    *,
    shared: bool = True,
    settings_environ: Mapping[str, str] | None = None,
    serve_while_unavailable: bool = False,
) -> Connection:
    """Parse the URI, provision the table if needed and return a ready connection, its
    settings reconciled with the environment (one GetItem; a conditional PutItem when the
    environment adds something: config/source.py).
    ``serve_while_unavailable`` (the stores a server makes): when DynamoDB cannot be reached
    now, return the connection anyway, its start-up (table, settings, seeding) pending until
    a request finds DynamoDB back; requests answer 503 meanwhile (gateway/startup.py).
    Without it (admin commands) start-up runs now and its errors are raised.
    ``shared=False`` gives a private connection with its own counters (benchmarks, tests).
    ``settings_environ`` replaces ``os.environ`` for the settings of a private connection:
    admin commands pass ``{}`` to see the table's settings without adding their shell's."""
    uri = parse_dynamodb_uri(store_uri)
    if shared:
        with _lock:
            if store_uri in _connections:
                return _connections[store_uri]
    client = make_client(uri)
    if not serve_while_unavailable:
        ensure_table(uri, client)
    gateway = TableGateway(client, uri.table_name)
    settings = TableSettingsSource(ConfigItems(gateway), environ=settings_environ)
    conn = Connection(uri=uri, client=client, gateway=gateway, settings=settings)
    if serve_while_unavailable:
        # In place before the connection is shared: nobody reaches the table before it.
        gateway.gate = _startup_gate(uri, client, settings)
    if shared:
        with _lock:
            conn = _connections.setdefault(store_uri, conn)
    if conn.settings is not settings:  # a loser's start-up is the winner's
        return conn
    if gateway.gate is not None:
        gateway.gate.open_now()
    else:
        settings.start()
    return conn


def _startup_gate(uri: DynamoDBUri, client: Any, settings: TableSettingsSource) -> StartupGate:
    probe_with = probe_client(uri)

    def probe() -> None:
        try:
            probe_with.describe_table(TableName=uri.table_name)
        except ClientError as exc:  # an answer: DynamoDB is there (the table may not be yet)
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        except ReadTimeoutError:
            pass  # connected but slow (a loaded host): start-up's own retries will wait

    where = f"DynamoDB ({uri.effective_endpoint_url or uri.region or 'AWS'}, {uri.table_name})"
    gate = StartupGate(probe, where=where)
    gate.add("table", lambda: ensure_table(uri, client))
    gate.add("settings", settings.start)
    return gate
