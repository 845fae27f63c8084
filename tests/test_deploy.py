"""The deployment recipe in deploy/ (issue 17, item 4), run as far as a machine without Tor's network or a running
systemd allows: the torrc through `tor --verify-config`, the units through `systemd-analyze verify`, and Debian's
nginx with the site's own configuration, over TLS with a certificate made here, in front of gunicorn (two workers,
SQLite, PRYSTAN_PROXY_HOPS=1). Under CI=true a missing tool fails the test instead of skipping it."""

import gzip
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import redis

from app import ROOT
from app.extensions import db
from tests.helpers import REDIS_URL, make_app, ram_folder, receipt_from, redis_available, solved_pow
from tests.test_addresses import ONION, PUBLIC

pytestmark = pytest.mark.once

DEPLOY = Path(ROOT) / "deploy"
HOST = urllib.parse.urlsplit(PUBLIC).hostname  # prystan.example, as in deploy/nginx/prystan.conf
ONION_HOST = urllib.parse.urlsplit(ONION).hostname
BIN = os.path.dirname(sys.executable)
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")


def tool(name: str, *places: str) -> str:
    """A system tool (.ci/system-deps installs it): missing, the test fails in CI and is skipped elsewhere."""
    found = shutil.which(name) or next((p for p in places if os.access(p, os.X_OK)), None)
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/system-deps installs it")
        pytest.skip(f"{name} is not installed here")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_setting(name: str) -> str:
    return re.search(rf"^{name} (\S+);", (DEPLOY / "nginx" / "prystan-proxy.conf").read_text(), re.M).group(1)


# --- Tor and systemd --------------------------------------------------------------------------------------------


def test_the_torrc_is_valid_and_points_at_the_onion_server(tmp_path):
    tor = tool("tor", "/usr/sbin/tor", "/usr/bin/tor")
    snippet = (DEPLOY / "tor" / "torrc").read_text()
    assert "HiddenServiceDir /var/lib/tor/prystan/" in snippet
    # Tor's own proof of work stays on: the onion takes forms without the site's puzzle (app/proof.py).
    assert re.search(r"^HiddenServicePoWDefensesEnabled 1$", snippet, re.M)
    tmp_path.chmod(0o700)  # tor refuses a folder others can read
    torrc = tmp_path / "torrc"
    torrc.write_text(
        snippet.replace("/var/lib/tor/prystan/", f"{tmp_path}/hs/")
        + f"DataDirectory {tmp_path}/data\nSocksPort 0\nLog notice stdout\n"
    )
    done = subprocess.run([tor, "--verify-config", "-f", str(torrc)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Configuration was valid" in done.stdout, done.stdout + done.stderr
    target = re.search(r"^HiddenServicePort 80 (127\.0\.0\.1:\d+)$", snippet, re.M).group(1)
    assert f"listen {target} default_server;" in (DEPLOY / "nginx" / "prystan.conf").read_text()


def test_the_systemd_units_are_valid(tmp_path):
    analyze = tool("systemd-analyze", "/usr/bin/systemd-analyze")
    units = sorted((DEPLOY / "systemd").iterdir())
    assert {u.name for u in units} >= {
        "prystan.socket",
        "prystan.service",
        *(f"prystan-{task}.{kind}" for task in ("purge", "uploads-gc", "notify") for kind in ("service", "timer")),
    }
    for unit in units:  # the paths of the recipe, pointed at this checkout and its venv, so that they are checked
        (tmp_path / unit.name).write_text(unit.read_text().replace("/srv/prystan", ROOT))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(p.name for p in tmp_path.iterdir())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # It exits 0 on an unknown key or system-call group, and says so: any word from it is a failure.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    service = (DEPLOY / "systemd" / "prystan.service").read_text()
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "RestrictNamespaces=yes"):
        assert f"\n{line}\n" in service, line
    assert (
        "ExecStart=/srv/prystan/.venv/bin/flask --app wsgi uploads gc"
        in (DEPLOY / "systemd" / "prystan-uploads-gc.service").read_text()
    )
    # systemd's own measure of what a service could still do if taken over: 0 (nothing) to 10 (everything).
    for service in ("prystan", "prystan-purge", "prystan-uploads-gc", "prystan-notify"):
        rated = subprocess.run(
            [analyze, "security", "--offline=true", "--no-pager", f"{service}.service"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", rated.stdout).group(1))
        assert exposure <= 2.0, (service, exposure)


def test_redis_as_the_recipe_configures_it_writes_nothing_to_disk(tmp_path):
    """Debian's redis.conf with deploy/redis/prystan.conf included last (deploy/README.md, step 2): no snapshot, no
    append-only file, no TCP; the limiter's counters and daily keys, written and the server shut down, leave no
    file behind."""
    server = tool("redis-server", "/usr/bin/redis-server")
    debian = Path("/etc/redis/redis.conf")
    base = debian.read_text() if debian.exists() else ""
    # Debian's paths, moved into this test's folder so that the machine's own Redis is not touched.
    base = re.sub(r"^(daemonize|pidfile|logfile|dir|unixsocket|unixsocketperm|supervised) .*$", "", base, flags=re.M)
    sock = tmp_path / "redis.sock"
    conf = tmp_path / "redis.conf"
    conf.write_text(
        base
        + f'\ndir {tmp_path}\ndaemonize no\nlogfile ""\n'
        + f"include {DEPLOY / 'redis' / 'prystan.conf'}\n"
        + f"unixsocket {sock}\n"  # (after the include: the recipe's /run/redis is not this test's)
    )
    process = subprocess.Popen([server, str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("port") == {"port": "0"}
        app = make_app(tmp_path / "app", RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=f"redis+unix://{sock}")
        with app.app_context():
            db.create_all()
            sent = app.test_client().post("/submit/information", data={"telegram": "anna_k1", "body": "A tip."})
            assert sent.status_code == 200
            db.session.remove()
            db.engine.dispose()
        assert any(k.startswith(b"prystan:ratekey:") for k in client.keys("*"))
        client.shutdown()  # a snapshot would be written now if one were configured
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "redis.conf"]


def test_nginx_takes_the_apps_largest_request_and_little_more(tmp_path):
    tool("ffmpeg")  # the recipe installs it: the plain form's limit then counts videos too
    app = make_app(tmp_path)  # the defaults, as the recipe deploys them
    assert app.config["MEDIA_TOOLS"]
    limit = app.config["MAX_CONTENT_LENGTH"]
    nginx = int(proxy_setting("client_max_body_size").removesuffix("m")) * 2**20
    assert limit < nginx <= limit + 2**20  # the app's own 413 page answers a body just over its limit


def test_nginx_waits_for_the_longest_check_of_a_submissions_files(tmp_path):
    app = make_app(tmp_path)  # the defaults, as the recipe deploys them
    longest = app.config["SCRUB_TIMEOUT"] + app.config["SCRUB_VIDEO_CPU_SECONDS"]  # (sandbox.Deadline)
    assert int(proxy_setting("proxy_read_timeout").removesuffix("s")) >= longest + 30


# --- nginx in front of gunicorn ---------------------------------------------------------------------------------


def certificate(folder: Path) -> Path:
    """A self-signed certificate for the site's name, where the recipe has Let's Encrypt's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir()
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "fullchain.pem"


def render_site(tmp: Path, ports: dict, sock: Path) -> str:
    """deploy/nginx/prystan.conf with this test's ports and paths, and nothing else changed."""
    text = (DEPLOY / "nginx" / "prystan.conf").read_text()
    swaps = {
        "listen 80 default_server;": f"listen 127.0.0.1:{ports['http']} default_server;",
        "listen [::]:80 default_server;": "",
        "listen 443 ssl http2 default_server;": f"listen 127.0.0.1:{ports['tls']} ssl http2 default_server;",
        "listen [::]:443 ssl http2 default_server;": "",
        "listen 127.0.0.1:8480 default_server;": f"listen 127.0.0.1:{ports['onion']} default_server;",
        "unix:/run/prystan.sock": f"unix:{sock}",
        f"/etc/letsencrypt/live/{HOST}/": f"{tmp}/tls/",
        "/var/log/nginx/": f"{tmp}/logs/",
        "root /srv/prystan;": f"root {ROOT};",
        "/etc/nginx/snippets/prystan-proxy.conf": str(DEPLOY / "nginx" / "prystan-proxy.conf"),
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


# Debian's /etc/nginx/nginx.conf, as far as it matters here: its own error log, an access log of every request
# in the "combined" format (with addresses), gzip on. The site's servers must override all three.
MAIN = """{user}
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {tmp}/logs/access.log;
    gzip on;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/prystan.conf;
}}
"""


class Site:
    """gunicorn (gunicorn.conf.py, 2 workers) on a Unix socket, as prystan.socket gives it, behind nginx."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.sock = tmp / "gunicorn.sock"
        self.ports = {"http": free_port(), "tls": free_port(), "onion": free_port()}
        self.workdir = ram_folder(tmp)
        self.redis = redis_available()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PRYSTAN_")} | {
            "PRYSTAN_SECRET_KEY": secrets.token_hex(32),
            "PRYSTAN_DATABASE_URL": f"sqlite:///{tmp}/site.db",
            "PRYSTAN_STORAGE_URL": str(tmp / "uploads"),
            "PRYSTAN_RESUMABLE_DIR": str(tmp / "resumable"),
            "PRYSTAN_UPLOAD_WORKDIR": self.workdir,
            "PRYSTAN_PUBLIC_URL": PUBLIC,
            "PRYSTAN_ONION_URL": ONION,
            "PRYSTAN_ONION_LOCATION": "true",
            "PRYSTAN_PROXY_HOPS": "1",
            "PRYSTAN_POW_MAX_NUMBER": "2000",
            # The cheapest limit to meet: a GET, no form, no token. Shared by both workers through Redis.
            "PRYSTAN_LANGUAGE_RATELIMIT": "2 per minute",
            "PRYSTAN_RATELIMIT_STORAGE_URI": REDIS_URL if self.redis else "memory://",
            "PRYSTAN_RATELIMIT_KEY_PREFIX": f"test-deploy-{secrets.token_hex(4)}",
        }
        self.gunicorn = self.nginx = None

    def start(self) -> None:
        (self.tmp / "logs").mkdir()
        certificate(self.tmp / "tls")
        self.context = ssl.create_default_context(cafile=str(self.tmp / "tls" / "fullchain.pem"))
        self.context.check_hostname = False  # (connections go to 127.0.0.1; the chain is still checked)
        (self.tmp / "prystan.conf").write_text(render_site(self.tmp, self.ports, self.sock))
        (self.tmp / "nginx.conf").write_text(
            MAIN.format(tmp=self.tmp, user="user root;" if os.geteuid() == 0 else "")  # (tmp_path is root's alone)
        )
        subprocess.run(
            [f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env, check=True, capture_output=True
        )
        self.start_gunicorn()
        nginx = tool("nginx", "/usr/sbin/nginx")
        with open(self.tmp / "logs" / "nginx.stderr", "ab") as stderr:
            self.nginx = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    self.tmp,
                    "-c",
                    self.tmp / "nginx.conf",
                    "-e",
                    self.tmp / "logs" / "startup.log",
                    "-g",
                    "daemon off;",
                ],
                stderr=stderr,
            )
        self.wait_until(lambda: self.visitor().get("/help/telegram").status_code == 200)

    def start_gunicorn(self) -> None:
        self.sock.unlink(missing_ok=True)
        with open(self.tmp / "logs" / "gunicorn.log", "ab") as stderr:
            self.gunicorn = subprocess.Popen(
                [
                    f"{BIN}/gunicorn",
                    "--config",
                    "gunicorn.conf.py",
                    "--workers",
                    "2",
                    "--bind",
                    f"unix:{self.sock}",
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=self.env,
                stderr=stderr,
            )

    def stop_gunicorn(self) -> None:
        if self.gunicorn and self.gunicorn.poll() is None:
            self.gunicorn.terminate()
            try:
                self.gunicorn.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
                self.gunicorn.wait()

    def stop(self) -> None:
        self.stop_gunicorn()
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()

    def wait_until(self, ready, seconds: float = 40) -> None:
        deadline = time.monotonic() + seconds
        while True:
            for process in (self.gunicorn, self.nginx):
                if process and process.poll() is not None:
                    raise AssertionError(f"{process.args[0]} stopped: {self.logs()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the site did not start: {self.logs()}")
            time.sleep(0.1)

    def visitor(self, source: str = "127.0.0.2", onion: bool = False) -> "Visitor":
        return Visitor(self, source, onion)

    def log_files(self) -> dict[str, str]:
        return {p.name: p.read_text(errors="replace") for p in sorted((self.tmp / "logs").iterdir())}

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{text[-3000:]}" for name, text in self.log_files().items())


class Answer:
    """What a Visitor gets back, read the way tests read a Flask test client's response."""

    def __init__(self, status: int, headers, data: bytes):
        self.status_code, self.headers, self.data = status, headers, data

    def get_data(self, as_text: bool = False):
        return self.data.decode() if as_text else self.data

    def get_json(self):
        return json.loads(self.data)


class Visitor:
    """One client with its own loopback address and cookies: over TLS to the public server, or over plain HTTP
    from 127.0.0.1 to the onion server (as tor would be)."""

    def __init__(self, site: Site, source: str, onion: bool):
        self.site, self.source, self.onion = site, source, onion
        self.host = ONION_HOST if onion else HOST
        self.cookies: dict[str, str] = {}

    def connect(self) -> socket.socket:
        """A raw connection (TLS to the public server), for requests a normal client would not make."""
        port = self.site.ports["onion" if self.onion else "tls"]
        sock = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(self.source, 0))
        return sock if self.onion else self.site.context.wrap_socket(sock, server_hostname=HOST)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        port = self.site.ports["onion" if self.onion else "tls"]
        address = ("127.0.0.1", port)
        if self.onion:
            connection = http.client.HTTPConnection(*address, timeout=30, source_address=(self.source, 0))
        else:
            connection = http.client.HTTPSConnection(
                *address, timeout=30, source_address=(self.source, 0), context=self.site.context
            )
        sent = {"Host": self.host} | (headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return Answer(response.status, response.headers, data)

    def get(self, path: str, **headers) -> Answer:
        return self.request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("site"))
    try:
        site.start()
        yield site
    finally:
        site.stop()
        shutil.rmtree(site.workdir, ignore_errors=True)


def csrf_token(html: str) -> str:
    field = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html).group(0)
    return re.search(r'value="([^"]+)"', field).group(1)


def test_pages_and_a_submission_work_through_nginx(site):
    visitor = site.visitor()
    home = visitor.get("/")
    assert home.status_code == 200 and home.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert home.headers["Onion-Location"] == ONION + "/"
    assert "Set-Cookie" not in home.headers  # reading sets no cookie
    form = visitor.get("/submit/information")
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    fields = {
        "csrf_token": csrf_token(form.get_data(as_text=True)),
        "telegram": "deploy_test",
        "body": "Sent through nginx.",
        "altcha": solved_pow(visitor),  # the proof of work, as the browser solves it
    }
    body = urllib.parse.urlencode(fields).encode()
    post = {"Content-Type": "application/x-www-form-urlencoded"}
    # Without a Referer the app refuses the form: it knows, from X-Forwarded-Proto, that this came over HTTPS.
    assert visitor.request("POST", "/submit/information", body, post).status_code == 400
    sent = visitor.request("POST", "/submit/information", body, post | {"Referer": f"{PUBLIC}/submit/information"})
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))
    # A staff page, through the same server, names no onion.
    login = visitor.get("/auth/login")
    assert login.status_code == 200 and "Onion-Location" not in login.headers


def test_the_rate_limit_keys_on_the_client_and_no_header_moves_it(site):
    if not site.redis:
        pytest.skip("Redis is not answering on 127.0.0.1:6379: with memory:// each worker counts on its own")
    anna, boris = site.visitor("127.0.0.2"), site.visitor("127.0.0.3")
    assert [anna.get("/language/en").status_code for _ in range(3)] == [303, 303, 429]
    # anna claims to be boris, or anyone else: nginx replaces the header, and she stays in her own bucket.
    for claimed in ("127.0.0.3", "10.1.2.3", "127.0.0.3, 10.1.2.3"):
        assert anna.get("/language/en", X_Forwarded_For=claimed, X_Real_IP=claimed).status_code == 429
    # boris has a bucket of his own, whatever he claims.
    assert boris.get("/language/en", X_Forwarded_For="127.0.0.2").status_code == 303
    assert [boris.get("/language/en").status_code for _ in range(2)] == [303, 429]


def test_a_client_of_the_public_address_naming_the_onion_host_is_still_counted_by_its_address(site):
    """On the onion the limits count per form session (everyone there is 127.0.0.1). A client of the public
    address that sends Host: <onion> must not get that: only nginx's onion server marks a request as the onion."""
    if not site.redis:
        pytest.skip("Redis is not answering on 127.0.0.1:6379: with memory:// each worker counts on its own")
    claimer, other = site.visitor("127.0.0.4"), site.visitor("127.0.0.5")
    for visitor in (claimer, other):
        visitor.host = ONION_HOST
    # (cookies dropped each time: on the onion, requests without a session would share one bucket)
    codes = []
    for _ in range(3):
        claimer.cookies.clear()
        codes.append(claimer.get("/language/en").status_code)
    assert codes == [303, 303, 429]
    assert other.get("/language/en").status_code == 303  # another address, another bucket: counted by address
    # And a form sent so is not taken for the onion's (where the proof of work is required): the no-JS path.
    form = other.get("/submit/information")
    fields = {"csrf_token": csrf_token(form.get_data(as_text=True)), "telegram": "no_onion", "body": "Claimed host."}
    post = {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"https://{ONION_HOST}/submit/information"}
    sent = other.request("POST", "/submit/information", urllib.parse.urlencode(fields).encode(), post)
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))


def test_no_header_changes_a_link(site):
    visitor = site.visitor("127.0.0.4")
    forged = {"X_Forwarded_Host": "evil.example", "X_Forwarded_Proto": "http", "Forwarded": "host=evil.example"}
    feed = visitor.get("/ads/feed.atom", **forged)
    assert feed.status_code == 200
    text = feed.get_data(as_text=True)
    assert f'href="{PUBLIC}/ads"' in text and "evil.example" not in text
    redirect = visitor.get("/moderation", **forged)
    assert redirect.status_code in (302, 303) and "evil" not in redirect.headers["Location"]
    assert redirect.headers["Location"].startswith("/auth/login")
    assert visitor.request("GET", "/", headers={"Host": "evil.example"}).status_code == 400


def test_static_files_are_compressed_and_kept_and_pages_are_not_compressed(site):
    visitor = site.visitor("127.0.0.4")
    css = (Path(ROOT) / "static" / "css" / "site.css").read_bytes()
    versioned = visitor.get("/static/css/site.css?v=0123abcd", Accept_Encoding="gzip")
    assert versioned.status_code == 200 and versioned.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(versioned.data) == css
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["Strict-Transport-Security"] and versioned.headers["X-Content-Type-Options"] == "nosniff"
    assert visitor.get("/static/js/htmx.min.js?v=1", Accept_Encoding="gzip").headers["Content-Encoding"] == "gzip"
    # Linked without its hash, a file may change: the browser checks it again.
    assert visitor.get("/static/css/site.css").headers["Cache-Control"] == "no-cache"
    # Pages, with a CSRF token or a search in them, are never compressed (BREACH).
    for path in ("/", "/ads?q=room", "/submit/information", "/auth/login"):
        page = visitor.get(path, Accept_Encoding="gzip, deflate, br")
        assert page.status_code == 200 and "Content-Encoding" not in page.headers, path
        assert page.data.lstrip()[:15].lower() == b"<!doctype html>", path


def test_the_onion_server(site):
    tor = site.visitor("127.0.0.1", onion=True)
    home = tor.get("/")
    assert home.status_code == 200
    assert "Strict-Transport-Security" not in home.headers and "Onion-Location" not in home.headers
    assert f'href="{ONION}/ads"' in tor.get("/ads/feed.atom").get_data(as_text=True)
    static = tor.get("/static/css/site.css?v=1", Accept_Encoding="gzip")
    assert static.headers["Content-Encoding"] == "gzip" and "immutable" in static.headers["Cache-Control"]
    assert "Content-Encoding" not in tor.get("/submit/information", Accept_Encoding="gzip").headers


def gunicorn_workers(site) -> list[int]:
    return [
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and Path(f"/proc/{pid}/stat").exists() and parent(pid) == site.gunicorn.pid
    ]


def parent(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def open_files(pids, folder: str) -> list[str]:
    """What these processes have open under ``folder`` (deleted files included)."""
    found = []
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(folder):
                found.append(target)
    return found


def read_status(sock: socket.socket) -> str:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer.decode(errors="replace")


def test_request_bodies_stream_to_gunicorn(site, tmp_path):
    visitor = site.visitor("127.0.0.4")
    # A file part of 3 MB, sent in two halves: before the second half leaves, the first is already in the app's
    # RAM folder (Werkzeug spools a part over 500 kB there), and nginx holds no body file of its own.
    boundary = secrets.token_hex(8)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="telegram"\r\n\r\nslow_sender\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="scan.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    data = os.urandom(3 * 2**20)
    body = head + data + tail
    sock = visitor.connect()
    with sock:
        sock.sendall(
            f"POST /submit/information HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nConnection: close\r\n\r\n".encode()
        )
        workers = gunicorn_workers(site)
        before = set(open_files(workers, site.workdir))
        sock.sendall(body[: 2 * 2**20])
        site.wait_until(lambda: set(open_files(workers, site.workdir)) - before, seconds=10)
        nginx = [int(p) for p in os.listdir("/proc") if p.isdigit() and parent(p) == site.nginx.pid]
        assert nginx and not open_files(nginx, str(site.tmp / "client_body"))
        sock.sendall(body[2 * 2**20 :])
        assert read_status(sock).startswith("HTTP/1.1 400")  # (no CSRF token: the body was read to look for it)
    assert not list((site.tmp / "client_body").glob("**/*"))
    # A body over the app's limit (but under nginx's): the app's own 413 page comes back while the body is still
    # on its way. Had nginx buffered it, nothing would come before the last of its 351 MB.
    limit = make_app(tmp_path).config["MAX_CONTENT_LENGTH"]
    sock = visitor.connect()
    with sock:
        sock.sendall(
            f"POST /submit/information HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {limit + 2**18}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n".encode()
            + b"telegram=x&body=" * 4096
        )
        answer = read_status(sock)
    assert answer.startswith("HTTP/1.1 413") and "Content-Security-Policy:" in answer, answer  # the app's headers


def test_no_log_holds_an_address(site):
    """Provoke what nginx logs with the client's address by default, then read every log: nginx's (the site's
    access and error logs, the error and access logs Debian's nginx.conf keeps, the start-up log) and gunicorn's."""
    anna = site.visitor("127.0.0.2")
    assert anna.get("/no/such/page").status_code == 404
    # A cut upload: headers and a little of the body, then the connection closes.
    with anna.connect() as sock:
        sock.sendall(
            f"POST /submit/information HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {2**20}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\ntelegram=abc".encode()
        )
    # Too large for nginx itself: 413 before a byte of the body.
    with anna.connect() as sock:
        sock.sendall(f"POST /uploads HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {400 * 2**20}\r\n\r\n".encode())
        assert read_status(sock).startswith("HTTP/1.1 413")
    # Plain HTTP to the TLS port, and a TLS handshake that fails.
    with socket.create_connection(("127.0.0.1", site.ports["tls"]), source_address=("127.0.0.3", 0)) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert read_status(sock).startswith("HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", site.ports["tls"]), source_address=("127.0.0.3", 0)) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")
        sock.recv(100)
    # The plain server redirects to the configured name, whatever Host was sent.
    with socket.create_connection(("127.0.0.1", site.ports["http"]), source_address=("127.0.0.3", 0)) as sock:
        sock.sendall(b"GET /ads?q=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        assert f"Location: https://{HOST}/ads?q=1\r\n" in read_status(sock)
    # gunicorn down: 502, for a visitor and for tor.
    site.stop_gunicorn()
    try:
        assert anna.get("/").status_code == 502
        assert site.visitor("127.0.0.1", onion=True).get("/").status_code == 502
    finally:
        site.start_gunicorn()
        site.wait_until(lambda: anna.get("/help/telegram").status_code == 200)
    time.sleep(0.2)  # (nginx writes a log line when a request ends)
    logs = site.log_files()
    access = logs["prystan-access.log"]
    assert re.search(r'"GET / HTTP/1.1" 502 ', access) and re.search(r'"POST /uploads HTTP/1.1" 413 ', access)
    assert not re.search(r"\d{2}:\d{2}:\d{2}", access)  # the day of a request, never its time
    assert not logs.get("access.log")  # Debian's http-level log (with addresses) gets nothing from the site
    for name, text in logs.items():
        for address in ADDRESSES:
            assert address not in text, f"{address} in {name}:\n{text[-2000:]}"
