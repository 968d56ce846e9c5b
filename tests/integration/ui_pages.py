"""Opening MLflow UI pages in headless Chromium (Debian's package driven by Playwright; no
browser download) and recording the API responses each page got, for the UI tests that
check a page loads with no failed API call."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
# How long a page must make no new request to count as loaded (the pages poll, so the
# network never idles), and the longest a page may keep asking. The quiet time is measured
# from the page's last request, looked at every POLL_MS (it was checked in whole QUIET_MS
# windows, so a page that stopped asking a moment into one waited two: 6 s a page).
QUIET_MS = 3_000
POLL_MS = 200
LONGEST_S = 45


@dataclass
class ResponseRecorder:
    """The API responses (URLs with ``api/``) one page got, and its failed calls; routes
    ending with one of ``allowed_failures`` may fail (e.g. the user routes that only an auth
    app serves)."""

    allowed_failures: tuple[str, ...] = ()
    responses: list = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def record(self, response) -> None:
        if "api/" not in response.url:
            return
        self.responses.append(response)
        path = response.url.split("?")[0]
        if response.status >= 400 and not path.endswith(self.allowed_failures):
            self.failures.append(f"{response.status} {response.request.method} {response.url}")

    def count(self, route: str) -> int:
        """How many of the responses were for URLs containing ``route``."""
        return sum(route in response.url for response in self.responses)


def visit(page, url: str, route: str, allowed_failures: tuple[str, ...] = ()) -> ResponseRecorder:
    """Open ``{url}/#/{route}``, wait until the page stops asking; what it got."""
    recorder = ResponseRecorder(allowed_failures)
    seen: list[str] = []
    # API calls asked and not yet answered: the page has not loaded while one is out (so a
    # slow answer is still recorded and checked)
    pending: set = set()

    def on_request(request) -> None:
        seen.append(request.url)
        if "api/" in request.url:
            pending.add(request)

    def on_done(request) -> None:
        pending.discard(request)

    listeners = {
        "response": recorder.record,
        "request": on_request,
        "requestfinished": on_done,
        "requestfailed": on_done,
    }
    for event, listener in listeners.items():
        page.on(event, listener)
    page.goto(f"{url}/#/{route}", wait_until="load")
    # (a request is noticed up to POLL_MS after it was made: the quiet time waited is never
    # shorter than QUIET_MS)
    asked, last_asked = len(seen), time.monotonic()
    deadline = last_asked + LONGEST_S
    while time.monotonic() < deadline:
        page.wait_for_timeout(POLL_MS)
        if len(seen) != asked or pending:
            asked, last_asked = len(seen), time.monotonic()
        elif time.monotonic() - last_asked >= QUIET_MS / 1000:
            break
    for event, listener in listeners.items():
        page.remove_listener(event, listener)
    return recorder
