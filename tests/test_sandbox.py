"""The decoders' sandbox, tried from inside: no secrets, no site files, no network, limits that end hostile files,
a bound on children shared by every gunicorn worker, and originals that never rest on a disk."""

import http.cookiejar
import io
import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest
from PIL import Image

from app.uploads import intake, sandbox
from tests import files
from tests.helpers import SECRET, TEST_DATABASE_URL, make_app, receipt_from, work_leftovers
from tests.test_uploads import post_files, refusal

pytestmark = pytest.mark.once  # heavy, and the same on any database: run in CI's SQLite pass only

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox", "probe.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ISOLATION = sandbox.isolation()
IN_CI = bool(os.environ.get("CI"))


def probe(app, targets: dict, *, switch_user: bool = True, types=()) -> dict:
    """Start the probe as the app starts a scrubber, and return what it could and could not do."""
    settings = sandbox.settings_from(app.config)
    taken = sandbox.wait_for_slot(settings, time.monotonic() + 10, lambda: True)
    slot, lock = taken
    try:
        if not switch_user:  # only the other layers: what holds where the app cannot change user
            settings = sandbox.Settings(**(settings.__dict__ | {"uid_base": -1}))
        child = sandbox.Child(settings, slot, [], list(types), 1, script=PROBE)
        child.send(targets)
        report = child.receive(time.monotonic() + 30)
        child.close()
    finally:
        os.close(lock)
    assert report is not None, "the probe did not answer"
    return report


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    yield server
    server.close()


def site_targets(app, tmp_path, listener) -> dict:
    secret_file = os.path.join(app.instance_path, f"probe-secret-{secrets.token_hex(4)}")
    with open(secret_file, "w") as f:
        f.write(SECRET)
    os.chmod(secret_file, 0o600)
    os.makedirs(app.config["STORAGE_URL"], mode=0o700, exist_ok=True)
    stored = os.path.join(app.config["STORAGE_URL"], "a" * 32)
    with open(stored, "wb") as f:
        f.write(b"a stored attachment")
    readable = [secret_file, stored]
    if not TEST_DATABASE_URL:
        readable.append(str(tmp_path / "test.db"))
    return {
        "port": listener.getsockname()[1],
        "files": readable,
        "folders": [app.instance_path, app.config["STORAGE_URL"], app.config["UPLOAD_WORKDIR"], ROOT],
    }


def assert_confined(report: dict, targets: dict, listener) -> None:
    assert set(report["environ"]) <= {"LC_CTYPE"}  # Python's own locale coercion, nothing of the site's
    assert SECRET not in json.dumps(report["environ"])
    assert report["parent environ"].startswith("refused")
    assert report["cwd listing"] in ("ALLOWED", "refused: PermissionError")  # empty, or not even readable
    for path in targets["files"] + targets["folders"]:
        assert report[path].startswith("refused"), path
    assert report["connect"].startswith("refused")
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing reached the site's side either


def test_the_child_sees_no_secret_no_site_file_and_no_network(app, tmp_path, listener, monkeypatch):
    monkeypatch.setenv("PRYSTAN_SECRET_KEY", SECRET)  # the worker's environment holds the key: the child must not
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    if IN_CI:
        assert ISOLATION.switches_user and ISOLATION.network_prefix and ISOLATION.landlock, ISOLATION.describe()
    targets = site_targets(app, tmp_path, listener)
    try:
        report = probe(app, targets)
    finally:
        os.unlink(targets["files"][0])
    assert_confined(report, targets, listener)
    if ISOLATION.switches_user:
        assert report["uid"] == sandbox.settings_from(app.config).uid_base + 0
        assert report["fork"].startswith("refused")  # no process of its own: RLIMIT_NPROC for its own user id


def test_a_child_that_runs_ffmpeg_reaches_nothing_more_of_the_site_and_no_other_program(
    app, tmp_path, listener, monkeypatch
):
    """A video's child may read and run ffmpeg, ffprobe and the system's libraries, and start processes (they are
    its children): still no site file, no network, and no other program (a shell)."""
    if not app.config["MEDIA_TOOLS"]:
        pytest.fail("ffmpeg is missing: .ci/system-deps installs it") if IN_CI else pytest.skip("no ffmpeg here")
    monkeypatch.setenv("PRYSTAN_SECRET_KEY", SECRET)
    targets = site_targets(app, tmp_path, listener)
    try:
        report = probe(app, targets, types=["video/mp4"])
    finally:
        os.unlink(targets["files"][0])
    assert_confined(report, targets, listener)
    if ISOLATION.landlock:
        assert report["shell"].startswith("refused"), report["shell"]


def test_without_another_user_id_landlock_and_the_namespace_still_hold(app, tmp_path, listener, monkeypatch):
    """Where the app cannot switch user (it does not run as root), the same uid as the app reads nothing either."""
    if not ISOLATION.landlock:
        pytest.skip("this kernel has no Landlock: SECURITY.md says what holds then")
    monkeypatch.setenv("PRYSTAN_SECRET_KEY", SECRET)
    targets = site_targets(app, tmp_path, listener)
    try:
        report = probe(app, targets, switch_user=False)
    finally:
        os.unlink(targets["files"][0])
    assert report["uid"] == os.getuid()
    assert_confined(report, targets, listener)


def test_the_private_folders_are_the_app_users_alone(tmp_path):
    store = tmp_path / "uploads"
    store.mkdir()
    os.chmod(store, 0o755)  # noqa: S103  made by hand, readable by all: the app closes it at start-up
    app = make_app(tmp_path)
    for folder in (app.instance_path, app.config["STORAGE_URL"], app.config["UPLOAD_WORKDIR"]):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder


@pytest.mark.parametrize("mode", [0o777, 0o1777], ids=["open", "sticky"])
def test_a_work_folder_another_user_made_first_is_refused_at_start_up(tmp_path, mode):
    """/dev/shm/prystan-<uid> is a name anyone on the machine can take first: its owner could list, swap or delete
    the originals the app puts there. Only the app user's own folders, or root's shared ones (as /dev/shm), do."""
    if os.geteuid() != 0:  # (a folder of another user's can only be made by root)
        pytest.fail("CI runs as root") if IN_CI else pytest.skip("not root: cannot make another user's folder")
    taken = tmp_path / "prystan-taken"
    taken.mkdir()
    os.chown(taken, 65534, 65534)
    os.chmod(taken, mode)
    with pytest.raises(RuntimeError, match="belongs to another user"):
        make_app(tmp_path, UPLOAD_WORKDIR=str(taken))
    assert stat.S_IMODE(os.stat(taken).st_mode) == mode


def test_a_slot_folder_another_user_made_first_is_refused(app):
    """The same for the decoders' slot locks (/dev/shm/prystan-sandbox-<first uid>): whoever owns that folder can
    delete a held lock's file, and two children would then run under one user id."""
    if os.geteuid() != 0:
        pytest.fail("CI runs as root") if IN_CI else pytest.skip("not root: cannot make another user's folder")
    settings = sandbox.Settings(**(sandbox.settings_from(app.config).__dict__ | {"uid_base": 3_999_000 + os.getpid()}))
    taken = sandbox.slot_dir(settings)
    try:
        os.chown(taken, 65534, 65534)
        with pytest.raises(RuntimeError, match="belongs to another user"):
            sandbox.slot_dir(settings)
    finally:
        os.rmdir(taken)


def test_a_pdf_bomb_is_refused_within_the_cpu_limit(tmp_path):
    started = time.monotonic()
    (message,) = refusal(tmp_path, [(files.pdf_bomb(), "bomb.pdf")], config={"SCRUB_CPU_SECONDS": 2})
    assert message in (intake.message("too_slow", name="bomb.pdf"), intake.message("limits", name="bomb.pdf"))
    assert time.monotonic() - started < 15


def test_a_cpu_heavy_image_is_refused_within_the_cpu_limit(tmp_path):
    noise = Image.frombytes("RGB", (6000, 5000), os.urandom(6000 * 5000 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)
    started = time.monotonic()
    (message,) = refusal(
        tmp_path,
        [(out.getvalue(), "heavy.png")],
        file_bytes=200 * 2**20,
        total_bytes=200 * 2**20,
        config={"SCRUB_CPU_SECONDS": 1},
    )
    assert message == intake.message("too_slow", name="heavy.png")
    assert time.monotonic() - started < 10


def test_a_slow_file_never_holds_the_request_past_the_timeout(app, client):
    app.config |= {"SCRUB_TIMEOUT": 1.5, "SCRUB_CPU_SECONDS": 60}
    started = time.monotonic()
    response = post_files(client, [(files.pdf_bomb(), "slow.pdf"), (files.jpeg(), "photo.jpg")])
    elapsed = time.monotonic() - started
    assert response.status_code == 422 and elapsed < 8
    html = response.get_data(as_text=True)
    assert "slow.pdf took too long to check and clean" in html and "With photos." in html
    assert work_leftovers(app) == []


# --- Several workers share one bound --------------------------------------------------------------------------


def scrubbers_running() -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"app/uploads/scrub.py" in f.read():
                        count += 1
            except OSError:
                continue
    return count


def multipart(fields: dict, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="{name}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_two_gunicorn_workers_run_at_most_the_configured_number_of_children(tmp_path):
    slots = 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {
        "PRYSTAN_SECRET_KEY": SECRET,
        "PRYSTAN_DATABASE_URL": f"sqlite:///{tmp_path}/bound.db",
        "PRYSTAN_STORAGE_URL": str(tmp_path / "uploads"),
        "PRYSTAN_UPLOAD_WORKDIR": str(tmp_path / "work"),
        "PRYSTAN_WTF_CSRF_ENABLED": "false",
        "PRYSTAN_RATELIMIT_ENABLED": "false",
        "PRYSTAN_POW_ENABLED": "false",
        "PRYSTAN_SANDBOX_CONCURRENCY": str(slots),
        "PRYSTAN_SESSION_COOKIE_SECURE": "false",
    }
    bin_dir = os.path.dirname(sys.executable)
    subprocess.run(
        [f"{bin_dir}/flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [
            f"{bin_dir}/gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "120",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/submit/information"
    noise = Image.frombytes("RGB", (2200, 2200), os.urandom(2200 * 2200 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)  # about a second of scrubbing each
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)  # gunicorn, another process, is still starting: real time, not a clock of ours
        receipts, most, done = [], 0, threading.Event()

        def send(number: int):
            body, header = multipart(
                {"telegram": "bound_test", "body": f"Submission {number}."}, "noise.png", out.getvalue()
            )
            request = urllib.request.Request(url, data=body, headers={"Content-Type": header})
            with urllib.request.urlopen(request, timeout=120) as response:
                receipts.append(receipt_from(response.read().decode()))

        senders = [threading.Thread(target=send, args=(n,)) for n in range(slots + 1)]
        for sender in senders:
            sender.start()

        def wait_for_all():
            for sender in senders:
                sender.join()
            done.set()

        threading.Thread(target=wait_for_all).start()
        while not done.is_set():
            most = max(most, scrubbers_running())
            time.sleep(0.01)  # sampling real processes running at once: concurrency is the point
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert len(receipts) == slots + 1 and all(receipts)
    assert most == slots  # the bound was reached, never passed


# --- Originals stay off the disk -------------------------------------------------------------------------------


def open_files_holding(marker: bytes) -> list[str]:
    """The paths of every file this process has open whose content holds ``marker`` (deleted ones included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        path = f"/proc/self/fd/{fd}"
        try:
            target = os.readlink(path)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                if marker in f.read():
                    found.append(target)
        except OSError:
            continue
    return found


def files_holding(marker: bytes, folders: list[str]) -> list[str]:
    found = []
    for folder in folders:
        for parent, _dirs, names in os.walk(folder):
            for name in names:
                try:
                    with open(os.path.join(parent, name), "rb") as f:
                        if marker in f.read():
                            found.append(os.path.join(parent, name))
                except OSError:
                    continue
    return found


def test_an_upload_in_progress_rests_only_in_the_ram_folder(live_server, tmp_path):
    import tempfile

    app = live_server.app
    marker = secrets.token_hex(16).encode()
    original = files.jpeg(size=(900, 700)) + marker * 40_000  # over Werkzeug's 500 kB: it spools to a file
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(live_server.url + "/submit/information").read().decode()
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)  # the CSRF token's session
    body, header = multipart(
        {"csrf_token": token, "telegram": "ram_test", "body": "In RAM only."}, "photo.jpg", original
    )
    cut = body.index(b"\r\n--", len(body) - 100)  # all of the file but the closing boundary
    with socket.create_connection(("127.0.0.1", int(live_server.url.rsplit(":", 1)[1]))) as connection:
        connection.sendall(
            f"POST /submit/information HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {header}\r\n"
            f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\nReferer: {live_server.url}/\r\n"
            "Connection: close\r\n\r\n".encode()
            + body[:cut]
        )
        deadline = time.monotonic() + 10
        holding = []
        while not holding and time.monotonic() < deadline:
            holding = open_files_holding(marker)
            time.sleep(0.05)  # the live server's thread spools the body in its own time (real concurrency)
        assert holding, "the upload never reached a file"
        ram = app.config["UPLOAD_WORKDIR"]
        assert all(path.startswith(ram + "/") for path in holding), holding
        connection.sendall(body[cut:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert b"receipt-code" in answer
    assert open_files_holding(marker) == []
    assert files_holding(marker, [tempfile.gettempdir(), ram, app.instance_path, str(tmp_path)]) == []


def test_the_default_work_folder_is_in_ram(tmp_path):
    app = make_app(tmp_path, UPLOAD_WORKDIR=None)
    assert app.config["UPLOAD_WORKDIR"] == f"/dev/shm/prystan-{os.geteuid()}"
    with open("/proc/mounts") as f:
        assert any(line.split()[1] == "/dev/shm" and line.split()[2] == "tmpfs" for line in f)


def test_a_service_without_network_is_told_apart_from_a_missing_namespace():
    """Under systemd's PrivateNetwork=yes (as deploy/ runs the app when it switches users) the start-up line says
    the service has no network, not that the decoders' namespace is missing."""
    code = "from app.uploads import sandbox; print(sandbox.offline())"
    inside = subprocess.run(["unshare", "--net", sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert inside.stdout.strip() == "True", inside.stderr
    outside = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert outside.stdout.strip() == "False"


def test_a_shared_folder_named_as_a_work_folder_is_left_shared(tmp_path):
    """PRYSTAN_UPLOAD_WORKDIR=/dev/shm (a tmpfs shared by every program, sticky like /tmp) must not be closed to
    everyone else: PostgreSQL keeps its shared memory there. The app works in it, and leaves its mode alone."""
    shared = tmp_path / "shm"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103  (a shared folder, as /dev/shm is)
    make_app(tmp_path, UPLOAD_WORKDIR=str(shared))
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777
