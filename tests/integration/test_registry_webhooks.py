"""Webhooks on DynamoDB Local: secrets are encrypted at rest and never leave through the API,
every server reads the same key, and test_webhook really delivers a signed request."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from cryptography.fernet import Fernet
from google.protobuf.json_format import MessageToDict
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.exceptions import MlflowException
from mlflow.webhooks.constants import (
    WEBHOOK_DELIVERY_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
)
from mlflow.webhooks.delivery import _generate_hmac_signature

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

EVENT = WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)


@pytest.fixture(autouse=True)
def local_urls(monkeypatch):
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    monkeypatch.delenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", raising=False)


def _raw_item(ddb_client, table_name, webhook_id):
    key = keys.webhook_key(webhook_id)
    return ddb_client.get_item(
        TableName=table_name, Key={"PK": {"S": key["PK"]}, "SK": {"S": key["SK"]}}
    )["Item"]


def test_secret_is_encrypted_at_rest_and_not_in_the_api(store_uri, ddb_client, table_name):
    store = DynamoDBRegistryStore(store_uri)
    hook = store.create_webhook("hook", "https://localhost/h", [EVENT], secret="s3cr3t-value")
    raw = _raw_item(ddb_client, table_name, hook.webhook_id)
    assert b"s3cr3t-value" not in json.dumps(raw, default=str).encode()
    assert "s3cr3t-value" not in str(raw["secret"])
    # The REST API sends the proto form, which has no secret at all.
    assert "secret" not in json.dumps(MessageToDict(hook.to_proto()))
    # In-process the entity carries it for delivery, like the SQL store's.
    assert store.get_webhook(hook.webhook_id).secret == "s3cr3t-value"


def test_every_server_decrypts_with_the_table_key(store_uri):
    first = DynamoDBRegistryStore(store_uri)
    hook = first.create_webhook("hook", "https://localhost/h", [EVENT], secret="shared")
    second = DynamoDBRegistryStore(store_uri)
    second.webhooks._cipher = None  # as a fresh process would start
    assert second.get_webhook(hook.webhook_id).secret == "shared"


def test_configured_key_is_used(store_uri, monkeypatch, ddb_client, table_name):
    key = Fernet.generate_key()
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", key.decode())
    store = DynamoDBRegistryStore(store_uri)
    hook = store.create_webhook("hook", "https://localhost/h", [EVENT], secret="abc")
    token = _raw_item(ddb_client, table_name, hook.webhook_id)["secret"]["B"]
    assert Fernet(key).decrypt(token) == b"abc"
    updated = store.update_webhook(hook.webhook_id, secret="def")
    assert updated.secret == "def"
    token = _raw_item(ddb_client, table_name, hook.webhook_id)["secret"]["B"]
    assert Fernet(key).decrypt(token) == b"def"


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body.decode()))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_test_webhook_delivers_a_signed_request(store_uri):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = DynamoDBRegistryStore(store_uri)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        hook = store.create_webhook("hook", url, [EVENT], secret="sign-me")
        result = store.test_webhook(hook.webhook_id)
        assert result.success and result.response_status == 200
        headers, body = _Receiver.received[-1]
        expected = _generate_hmac_signature(
            "sign-me", headers[WEBHOOK_DELIVERY_ID_HEADER], headers[WEBHOOK_TIMESTAMP_HEADER], body
        )
        assert headers[WEBHOOK_SIGNATURE_HEADER] == expected
        assert json.loads(body)["entity"] == "model_version"
    finally:
        server.shutdown()


def test_deleted_webhook_leaves_the_listings(store_uri):
    store = DynamoDBRegistryStore(store_uri)
    keep = store.create_webhook("keep", "https://localhost/a", [EVENT])
    gone = store.create_webhook("gone", "https://localhost/b", [EVENT])
    store.delete_webhook(gone.webhook_id)
    assert [w.webhook_id for w in store.list_webhooks()] == [keep.webhook_id]
    assert [w.webhook_id for w in store.list_webhooks_by_event(EVENT)] == [keep.webhook_id]


def test_impossible_ids_are_not_found(store_uri):
    store = DynamoDBRegistryStore(store_uri)
    for bad in ["", "x" * 5000]:
        for call in (store.get_webhook, store.delete_webhook):
            with pytest.raises(MlflowException) as info:
                call(bad)
            assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
