"""Helpers for browser tests: a live server in a thread and Debian's Chromium driven by Playwright."""

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(ROOT) / "build" / "screenshots"
PAGES = Path(ROOT) / "build" / "html"
VNU = Path(ROOT) / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# htmx's attributes are not HTML's; everything else must be valid.
VNU_IGNORED = r".*“hx-[a-z-]+”.*"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


def sign_in(page, username: str) -> None:
    """Sign a staff member in through the form and wait until the queue page (and its script) has loaded."""
    import re

    from playwright.sync_api import expect

    from tests.helpers import PASSWORD

    page.goto("/auth/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/moderation$"))
    page.wait_for_load_state("load")  # the queue's script is ready: a row opens in the side panel


def html_errors(pages: dict[str, str]) -> list[str]:
    """Check pages (name: the HTML the server sent) with the W3C Nu HTML Checker, all in one Java start; return
    its errors as "page: line: message"."""
    java = shutil.which("java")
    if not java or not VNU.exists():
        pytest.fail("the Nu HTML Checker needs java and node_modules/vnu-jar (.ci/system-deps, make test-tools)")
    shutil.rmtree(PAGES, ignore_errors=True)
    PAGES.mkdir(parents=True)
    for name, html in pages.items():
        (PAGES / (re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") + ".html")).write_text(html)
    done = subprocess.run(
        [
            java,
            "-jar",
            str(VNU),
            "--errors-only",
            "--format",
            "json",
            "--filterpattern",
            VNU_IGNORED,
            *sorted(str(p) for p in PAGES.iterdir()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(done.stderr or '{"messages": []}')["messages"]
    return [f"{Path(m.get('url', '')).name}:{m.get('lastLine', '?')}: {m['message']}" for m in messages]
