"""Security events reach the log as they would the journal: gunicorn and the command line, run as deployed
(gunicorn.conf.py, `flask --app wsgi`), write each event as one `prystan.security` line on stderr, with no address
and no username in it."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from tests.helpers import PASSWORD, SECRET, ram_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
USERNAME = "olga_logs"
EVENT = re.compile(r"prystan\.security: (\{.*\})$")


def events(output: str) -> list[dict]:
    return [json.loads(found.group(1)) for line in output.splitlines() if (found := EVENT.search(line))]


def site_env(tmp_path, port: int) -> dict:
    return os.environ | {
        "PRYSTAN_SECRET_KEY": SECRET,
        "PRYSTAN_DATABASE_URL": f"sqlite:///{tmp_path}/logs.db",
        "PRYSTAN_STORAGE_URL": str(tmp_path / "uploads"),
        "PRYSTAN_UPLOAD_WORKDIR": ram_folder(tmp_path),
        "PRYSTAN_RESUMABLE_DIR": str(tmp_path / "resumable"),
        "PRYSTAN_WTF_CSRF_ENABLED": "false",
        "PRYSTAN_SESSION_COOKIE_SECURE": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
    }


def flask(env, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    command = [f"{BIN}/flask", "--app", "wsgi", *args]
    return subprocess.run(command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=True)


class Browser:
    """A client with cookies that says what status each request got, redirects followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, form: dict | None = None) -> int:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except urllib.error.URLError:  # (not listening yet)
            return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_line_logs_its_security_events(tmp_path):
    env = site_env(tmp_path, free_port())
    flask(env, "db", "upgrade")
    created = flask(env, "users", "create", USERNAME, "--role", "moderator", "--password-stdin", stdin=PASSWORD)
    assert {"event": "audit", "action": "user_created", "item": None, "user": None} in events(created.stderr)
    assert USERNAME not in "".join(line for line in created.stderr.splitlines() if "prystan.security" in line)


def test_gunicorn_logs_failed_sign_ins_and_refused_staff_pages_without_addresses_or_names(tmp_path):
    port = free_port()
    env = site_env(tmp_path, port)
    flask(env, "db", "upgrade")
    flask(env, "users", "create", USERNAME, "--role", "moderator", "--password-stdin", stdin=PASSWORD)
    command = [f"{BIN}/gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while browser.open("/help/telegram") != 200:
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
            time.sleep(0.1)
        assert browser.open("/moderation") == 200  # (the sign-in page it is sent to)
        assert browser.open("/auth/login", {"username": USERNAME, "password": "not the password"}) == 422
        assert browser.open("/auth/login", {"username": USERNAME, "password": PASSWORD, "otp": ""}) == 200
        assert browser.open("/admin/users") == 403  # a moderator on an admin's page
    finally:
        server.terminate()
        _, output = server.communicate(timeout=30)
    logged = events(output)
    names = [e["event"] for e in logged]
    assert {"sign_in_required", "sign_in_failed", "sign_in", "access_refused"} <= set(names), output
    refused = next(e for e in logged if e["event"] == "access_refused")
    assert refused["endpoint"].startswith("admin.") and refused["role"] == "moderator"
    assert next(e for e in logged if e["event"] == "sign_in_failed")["reason"]
    # Neither the client's address nor the typed username is in any line (gunicorn names only where it listens).
    assert USERNAME not in output
    assert all("Listening at" in line for line in output.splitlines() if "127.0.0.1" in line), output
    assert "Control socket" not in output  # (gunicorn.conf.py turns it off)


def test_what_a_submitter_or_reader_does_writes_no_line(tmp_path, capsys):
    """The audit keeps the day of a submitter's or reader's own action, not its time; the journal stamps every line
    to the microsecond, so no line is written for one at all (sending, a wrong receipt code, withdrawing, a limit
    reached on a public form): a state with an ISP's connection logs could match the second to a subscriber."""
    from app.extensions import db
    from tests.helpers import make_app

    app = make_app(tmp_path, RATELIMIT_ENABLED=True, SUBMIT_RATELIMIT="1 per hour", POW_ENABLED=False)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    sent = client.post("/submit/information", data={"telegram": "anna_k1", "body": "A tip."})
    code = re.search(r'id="receipt-code">([\d ]+)<', sent.get_data(as_text=True)).group(1)
    assert client.post("/submit/information", data={"telegram": "anna_k1", "body": "Again."}).status_code == 429
    assert client.post("/status", data={"code": "1234 5678 1234 5678"}).status_code in (200, 404, 422)
    assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code in (200, 303)
    with app.app_context():
        from app.models import Event

        assert {"submitted", "withdrawn"} <= {e.action for e in db.session.scalars(db.select(Event))}
    assert "prystan.security" not in capsys.readouterr().err
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_a_line_is_written_once_even_where_the_root_logger_has_a_handler(capsys):
    import logging

    from app import logs, seclog

    root = logging.getLogger()
    extra = logging.StreamHandler(sys.stderr)
    root.addHandler(extra)
    try:
        logs.configure()
        seclog.event("sign_in_failed", reason="password")
    finally:
        root.removeHandler(extra)
    assert capsys.readouterr().err.count("sign_in_failed") == 1
