"""A small local HTTP server that answers as OpenAI's chat completions API, recording what
it received: the upstream of AI gateway endpoints in the invocation tests."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMPLETION_TEXT = "Hello from the fake upstream"
# A request for this model is a judge's: it answers "no" when the judged messages carry
# RUDE_MARKER, else "yes" (the JSON MLflow's judges parse).
JUDGE_MODEL = "judge-model"
RUDE_MARKER = "RUDE-MARKER"


def _content(body: dict) -> str:
    if body.get("model") != JUDGE_MODEL:
        return COMPLETION_TEXT
    rude = RUDE_MARKER in json.dumps(body.get("messages", []))
    return json.dumps({"result": "no" if rude else "yes", "rationale": "fake judge"})


def completion(model: str, content: str = COMPLETION_TEXT) -> dict:
    return {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    }


@contextmanager
def fake_openai():
    """Yields ``(base_url, received)``; ``received`` lists ``{path, headers, body}``."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if self.path.endswith("/chat/completions"):
                payload = json.dumps(completion(body.get("model", "?"), _content(body))).encode()
                self.send_response(200)
            else:
                payload = json.dumps({"error": {"message": f"no route {self.path}"}}).encode()
                self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
    finally:
        server.shutdown()
        server.server_close()
