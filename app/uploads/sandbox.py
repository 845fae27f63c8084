"""The sandbox every decoder runs in: what the child can reach, how long it may take, how many run at once.

A child (app/uploads/scrub.py) starts with an empty environment, in an empty folder, in a network namespace of
its own where the system allows (checked once per process, at start-up), and confines itself before it reads a
hostile byte: resource limits, no new privileges, another user id where the app runs as root, and Landlock.
It reads and writes only the file descriptors passed to it.

At most ``slots`` children run at once on this machine, whatever the number of gunicorn workers: a slot is an
flock on one of ``slots`` files in a folder all workers share (slot_dir); a lock dies with its process. One request's
files are spread over the slots it can get (one child per slot, each taking the next file), so a submission
with several files uses the machine's cores. Nothing here waits past the deadline: a child still busy then is
killed and its file refused. A video that must be re-encoded from its pixels (the child says so before it starts)
gets its own wall-clock budget, SCRUB_VIDEO_CPU_SECONDS from that moment, within SCRUB_TIMEOUT +
SCRUB_VIDEO_CPU_SECONDS for the whole request (Deadline): one such video per submission is sure of its whole budget.

Knows nothing of requests: settings come from settings_from(config).

Why one module: the parent's half of the protocol with scrub.py (settings, slots, starting and reading children,
their deadlines) is one mechanism whose parts share the same few structures; its parts are marked (slots,
children).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypedDict, cast

from app.slots import take as take_turn
from app.uploads import scrub
from app.uploads.storage import own_folder

SCRUBBER = scrub.__file__
log = logging.getLogger(__name__)


class Job(TypedDict):
    """One file for a child: its sniffed type and the descriptors of the original, the clean copy and the previews."""

    type: str
    src: int
    dst: int
    previews: list[int]


@dataclass(frozen=True)
class Settings:
    slots: int  # children at once on this machine
    workdir: str  # RAM-backed folder of the work folders (and of the slots' lock files without /dev/shm)
    timeout: float  # wall-clock seconds for all the files of one request, waiting for a slot included
    cpu_seconds: int  # per file
    video_cpu_seconds: int  # per video re-encoded from its pixels; also the wall-clock time it adds (Deadline)
    memory: int  # bytes of address space per child
    file_size: int  # largest file a child may write, in bytes
    uid_base: int  # a child in slot i runs as user id uid_base + i where the app can switch user
    child: dict[str, Any]  # what the scrubber needs to know: pixel limit, dpi, pages, media tools and duration


def settings_from(config: Mapping[str, Any]) -> Settings:
    tools = config.get("MEDIA_TOOLS") or {}
    output = int(config["SCRUB_OUTPUT_MB"]) * 2**20
    if tools:  # a rebuilt video is about as large as the one sent
        output = max(output, (int(config["UPLOAD_MAX_MEDIA_MB"]) + 16) * 2**20)
    return Settings(
        slots=int(config.get("SANDBOX_CONCURRENCY") or os.cpu_count() or 1),
        workdir=config["UPLOAD_WORKDIR"],
        timeout=float(config["SCRUB_TIMEOUT"]),
        cpu_seconds=int(config["SCRUB_CPU_SECONDS"]),
        video_cpu_seconds=int(config["SCRUB_VIDEO_CPU_SECONDS"]),
        memory=int(config["SCRUB_MEMORY_MB"]) * 2**20,
        file_size=output,
        uid_base=int(config["SANDBOX_UID_BASE"]),
        child={
            "max_pixels": int(config["UPLOAD_MAX_PIXELS"]),
            "dpi": int(config["PDF_DPI"]),
            "max_pages": int(config["PDF_MAX_PAGES"]),
            "media_seconds": int(config["UPLOAD_MAX_MEDIA_MINUTES"]) * 60,
            "ffmpeg": tools.get("ffmpeg"),
            "ffprobe": tools.get("ffprobe"),
        },
    )


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the sandbox do, found once per process."""

    network_prefix: tuple[str, ...]  # the command that gives the child a network namespace of its own; () none
    switches_user: bool  # the child takes a user id of its own (slot by slot)
    landlock: int  # Landlock ABI version; 0: not available
    offline: bool = False  # the whole service has no network but loopback (systemd PrivateNetwork=yes)

    @property
    def no_network(self) -> bool:
        """A child can reach no network: its own namespace, or none in the service at all."""
        return bool(self.network_prefix) or self.offline

    def describe(self) -> str:
        return ", ".join(
            [
                "own network namespace"
                if self.network_prefix
                else "no network (the service has none)"
                if self.offline
                else "NO network namespace",
                "separate user id" if self.switches_user else "same user id as the app",
                f"Landlock ABI {self.landlock}" if self.landlock else "NO Landlock",
            ]
        )


@functools.lru_cache(maxsize=4)
def isolation(uid_base: int = 64000, slots: int = 64) -> Isolation:
    """Probe once: can a child get its own network namespace (as root, or through a user namespace), and
    another user id (where this user namespace maps the sandbox's ids)?"""
    root = os.geteuid() == 0
    switches = can_switch_user() and mapped(uid_base, slots)
    candidates: list[tuple[str, ...]] = [("unshare", "--net", "--")] if root else []
    if not switches:
        # (Inside a new user namespace a service with CAP_SETUID could no longer take the slot's user id: where
        # it switches users, its network must be taken away by its unit instead, PrivateNetwork=yes.)
        candidates.append(("unshare", "--user", "--map-current-user", "--net", "--"))
    prefix: tuple[str, ...] = ()
    for candidate in candidates:
        try:
            # S603: a fixed argv (unshare or the like, then /bin/true), with an empty environment.
            done = subprocess.run([*candidate, "true"], env={}, capture_output=True, timeout=10, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            prefix = candidate
            break
    return Isolation(network_prefix=prefix, switches_user=switches, landlock=scrub.landlock_abi(), offline=offline())


def offline() -> bool:
    """Has this process no network interface but loopback?"""
    try:  # (/proc/net follows this process's network namespace; /sys/class/net, the one sysfs was mounted in)
        with open("/proc/net/dev") as f:
            names = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    except OSError:
        return False
    return names <= {"lo"}


def can_switch_user() -> bool:
    """Root, or a service given CAP_SETUID and CAP_SETGID (systemd: AmbientCapabilities=CAP_SETUID CAP_SETGID)."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as f:
            effective = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(effective & (1 << 6)) and bool(effective & (1 << 7))  # CAP_SETGID, CAP_SETUID


def mapped(first: int, count: int) -> bool:
    """Does this process's user namespace have the user ids first .. first + count - 1?"""
    try:
        with open("/proc/self/uid_map") as f:
            ranges = [tuple(map(int, line.split())) for line in f if line.strip()]
    except OSError:
        return False
    return any(inside <= first and first + count <= inside + length for inside, _outside, length in ranges)


def media_rights(settings: Settings, media_fds: dict[str, list[int]]) -> dict[str, list[str] | list[int]]:
    """What a child running ffmpeg and ffprobe may reach besides Python: the two programs and the system's
    libraries (read and run), and the media jobs' own files through the descriptors it was given: it reopens them
    as /proc/self/fd/N, since both tools need to seek (read the source; write the results)."""
    tools = [settings.child["ffmpeg"], settings.child["ffprobe"]]
    libraries = ["/usr/lib", "/lib", "/lib64", "/usr/lib64", "/etc/ld.so.cache"]
    return {
        "executable": [os.path.realpath(t) for t in tools if t] + [p for p in libraries if os.path.exists(p)],
        "read_fds": media_fds.get("read", []),
        "write_fds": media_fds.get("write", []),
    }


def readable_paths() -> list[str]:
    """The Python installation: a child may read it (late imports), and nothing else."""
    paths = {os.path.join(sys.base_prefix, "lib"), os.path.join(sys.prefix, "lib"), *site.getsitepackages()}
    return sorted(p for p in paths if os.path.isdir(p))


# --- slots ----------------------------------------------------------------------------------------------


def slot_dir(settings: Settings) -> str:
    """The lock files of the slots: one folder for the whole machine where there is /dev/shm, per range of user ids,
    so that two sites (or two test runs) on one machine never run two children under one user id at once."""
    # S108: shared on purpose by every site on the machine that uses these user ids; made 0700, and refused if
    # another user made it first.
    if os.path.isdir("/dev/shm"):  # noqa: S108
        path = f"/dev/shm/prystan-sandbox-{settings.uid_base}"  # noqa: S108
    else:
        path = os.path.join(settings.workdir, ".slots")
    os.makedirs(path, mode=0o700, exist_ok=True)
    own_folder(path)
    return path


def try_slot(settings: Settings) -> tuple[int, int] | None:
    """Take a free slot (its index and the open lock file), or None when all are taken."""
    return take_turn(slot_dir(settings), settings.slots)


def wait_for_slot(settings: Settings, deadline: float, wanted: Callable[[], bool]) -> tuple[int, int] | None:
    """Wait for a slot until the deadline, or until ``wanted()`` says none is needed any more."""
    pause = 0.01
    while wanted():
        taken = try_slot(settings)
        if taken:
            return taken
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return None


# --- children -------------------------------------------------------------------------------------------


class Child:
    """One sandboxed process in one slot, taking jobs one at a time."""

    def __init__(
        self,
        settings: Settings,
        slot: int,
        fds: list[int],
        types: list[str],
        jobs: int,
        script: str = SCRUBBER,
        media_fds: dict[str, list[int]] | None = None,
    ):
        found = isolation(settings.uid_base, settings.slots)
        self.folder = tempfile.mkdtemp(dir=settings.workdir, prefix="child-")  # empty; the child's working folder
        self.buffer = b""
        child_settings = settings.child | {
            "memory": settings.memory,
            "file_size": settings.file_size,
            "cpu_seconds": settings.cpu_seconds,
            "video_cpu_seconds": settings.video_cpu_seconds,
            "jobs": jobs,
            "types": types,
            "readable": readable_paths(),
            "uid": settings.uid_base + slot if found.switches_user else None,
        }
        if any(scrub.is_media(t) for t in types):  # ffmpeg and ffprobe run in the child's confinement (scrub.py)
            child_settings |= media_rights(settings, media_fds or {})
        self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and scrub.py; the file comes on a pipe)
            [*found.network_prefix, sys.executable, "-I", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            cwd=self.folder,
            pass_fds=fds,
            close_fds=True,
            start_new_session=True,
        )
        self.send(child_settings)

    def send(self, message: Mapping[str, object]) -> None:
        stdin = cast(IO[bytes], self.process.stdin)  # Popen(stdin=PIPE)
        stdin.write((json.dumps(message) + "\n").encode())
        stdin.flush()

    def receive(self, deadline: float) -> object:
        """The next line the child writes, or None if it died or the deadline passed (then it is killed). Any JSON
        value: a child taken over by a hostile file may write anything (intake.trusted() checks it)."""
        fd = cast(IO[bytes], self.process.stdout).fileno()  # Popen(stdout=PIPE)
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.kill()
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> int | None:
        """End the child and return how it ended (a negative number: the signal that ended it)."""
        with contextlib.suppress(OSError):
            cast(IO[bytes], self.process.stdin).close()
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        cast(IO[bytes], self.process.stdout).close()
        shutil.rmtree(self.folder, ignore_errors=True)
        return code


def died(code: int | None, rebuilding: bool = False) -> dict[str, Any]:
    """Why a child stopped before it answered."""
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return {"ok": False, "error": "video_too_slow" if rebuilding else "too_slow", "limit": None}
    return {"ok": False, "error": "limits", "limit": None}


class Deadline:
    """When a request's files must be done: ``timeout`` after it started. A video re-encode moves it to
    ``video_seconds`` after the re-encode starts, but never past ``timeout + video_seconds`` from the start, so a
    visitor waiting on the plain form (and the proxy in front) knows the longest wait: SCRUB_TIMEOUT +
    SCRUB_VIDEO_CPU_SECONDS."""

    def __init__(self, timeout: float, video_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at = clock() + timeout
        self.last = self.at + video_seconds
        self.video_seconds = video_seconds
        self.lock = threading.Lock()

    def rebuilding(self) -> None:
        with self.lock:
            self.at = max(self.at, min(self.clock() + self.video_seconds, self.last))

    def passed(self) -> bool:
        return self.clock() >= self.at


def answer(child: Child, deadline: Deadline) -> tuple[object, bool]:
    """The child's result for the job it was sent (None: it died or ran out of time), and whether it was re-encoding
    a video. Its note that it starts one is believed once per job: the most a hostile file gets is one budget."""
    result = child.receive(deadline.at)
    if result != scrub.REBUILDING:
        return result, False
    deadline.rebuilding()
    return child.receive(deadline.at), True


def run_jobs(settings: Settings, jobs: list[Job], *, script: str = SCRUBBER) -> list[object]:
    """Run every job in sandboxed children, as many at once as free slots allow; one result per job, in order.

    A job is {"type", "src": fd, "dst": fd, "previews": [fd, ...]}; each child receives every job's descriptors
    (they are all the same submitter's files) and takes the next job when it has finished one.
    """
    if not jobs:
        return []
    deadline = Deadline(settings.timeout, settings.video_cpu_seconds)
    waiting: queue.Queue[int] = queue.Queue()
    for index in range(len(jobs)):
        waiting.put(index)
    results: list[object] = [None] * len(jobs)
    fds = sorted({fd for job in jobs for fd in (job["src"], job["dst"], *job["previews"])})
    types = sorted({job["type"] for job in jobs})
    media = [job for job in jobs if scrub.is_media(job["type"])]
    media_fds = {"read": [j["src"] for j in media], "write": [fd for j in media for fd in (j["dst"], *j["previews"])]}

    def worker(first: bool) -> None:
        taken = wait_for_slot(settings, deadline.at, lambda: first or not waiting.empty())
        if taken is None:
            return
        slot, lock = taken
        try:
            child = None
            while not deadline.passed():
                try:
                    index = waiting.get_nowait()
                except queue.Empty:
                    break
                rebuilding = False
                try:
                    child = child or Child(settings, slot, fds, types, len(jobs), script, media_fds)
                    child.send(jobs[index])
                    results[index], rebuilding = answer(child, deadline)
                except (OSError, ValueError):  # it could not start, died before it read the job, or wrote nonsense
                    log.exception("decoder sandbox: a child failed")
                if results[index] is None:  # it died or ran out of time: this file is refused, a new child goes on
                    results[index] = died(child.close() if child else None, rebuilding)
                    child = None
            if child:
                child.close()
        finally:
            os.close(lock)

    threads = [
        threading.Thread(target=worker, args=(n == 0,), daemon=True) for n in range(min(settings.slots, len(jobs)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    late: dict[str, Any] = {
        "ok": False,
        "error": "busy" if all(r is None for r in results) else "too_slow",
        "limit": None,
    }
    return [result or late for result in results]
