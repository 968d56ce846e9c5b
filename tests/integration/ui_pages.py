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
# network never idles), and the longest a page may keep asking.
QUIET_MS = 3_000
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

    def on_request(request) -> None:
        seen.append(request.url)

    page.on("response", recorder.record)
    page.on("request", on_request)
    page.goto(f"{url}/#/{route}", wait_until="load")
    quiet_since, deadline = len(seen), time.monotonic() + LONGEST_S
    while time.monotonic() < deadline:
        page.wait_for_timeout(QUIET_MS)
        if len(seen) == quiet_since:
            break
        quiet_since = len(seen)
    page.remove_listener("response", recorder.record)
    page.remove_listener("request", on_request)
    return recorder
