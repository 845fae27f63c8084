"""Resumable uploads on a bad connection (issue 16), against the app under gunicorn (gunicorn.conf.py, SQLite):

1. A 50 MB upload cut at 50 %, in the middle of a PATCH, by a small TCP proxy between client and server (a routed
   abort would drop whole requests and test nothing): the bytes sent twice, which must be under one chunk.
2. The time from the last byte of a 100 MB video to the receipt: the last PATCH (which scrubs the video in the
   sandbox) and the form that sends it. Target: under 10 s.
3. The memory of the worker during a 200 MB upload, counting what it holds in the RAM-backed folders: the growth
   of its resident memory plus the bytes in UPLOAD_WORKDIR and /dev/shm. Target: under 20 MB.
4. Ten empty PATCHes (Upload-Offset = Upload-Length) sent while a 58 MB video is being finished (issue 22): how
   many the server took, and the most the RAM folder held meanwhile. Target: none taken, one video's worth.

The client speaks tus as tus-js-client does: 2 MB chunks (RESUMABLE_CHUNK_MB), and after a failure a HEAD, then
the rest from the server's offset.

    .venv/bin/python bench/resumable.py [--record] [--only N]
"""

import argparse
import base64
import contextlib
import datetime
import http.client
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tests.proxy import CuttingProxy  # noqa: E402  (the browser test cuts connections the same way)

CHUNK = 2 * 2**20
PIECE = 64 * 1024  # how the client writes a chunk to the socket (so that it knows how far it got)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A tus client as tus-js-client behaves, through one address (the proxy's, or the server's)."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""
        page = self.request("GET", "/submit/information")
        assert page.status == 200

    def request(self, method: str, path: str, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.request(method, path, body=body, headers={"Cookie": self.cookie} | (headers or {}))
        response = conn.getresponse()
        response.data = response.read()
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";")[0]
        conn.close()
        return response

    def create(self, length: int, name: str) -> str:
        metadata = "filename " + base64.b64encode(name.encode()).decode()
        headers = {"Tus-Resumable": "1.0.0", "Upload-Length": str(length), "Upload-Metadata": metadata}
        response = self.request("POST", "/uploads", headers=headers)
        assert response.status == 201, (response.status, response.data)
        return response.getheader("Location")

    def offset(self, location: str) -> int:
        return int(self.request("HEAD", location, headers={"Tus-Resumable": "1.0.0"}).getheader("Upload-Offset"))

    def patch(self, location: str, offset: int, data: bytes, progress: list) -> int:
        """Send one chunk piece by piece; ``progress[0]`` is how far the client got. Returns the new offset."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.putrequest("PATCH", location)
        for name, value in {
            "Cookie": self.cookie,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(len(data)),
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        for start in range(0, len(data), PIECE):
            conn.send(data[start : start + PIECE])
            progress[0] = offset + min(start + PIECE, len(data))
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 204:
            raise OSError(f"PATCH answered {response.status}")
        return int(response.getheader("Upload-Offset"))

    def upload(self, data: bytes, name: str, on_last=None) -> dict:
        """Upload ``data``; return what it took: bytes the client sent in all, and the bytes sent twice."""
        location = self.create(len(data), name)
        offset, sent, twice, cuts = 0, 0, 0, 0
        while offset < len(data):
            progress = [offset]
            chunk = data[offset : offset + CHUNK]
            last = offset + len(chunk) == len(data)
            started = time.perf_counter()
            try:
                offset = self.patch(location, offset, chunk, progress)
                sent += len(chunk)
                if last and on_last:
                    on_last(time.perf_counter() - started)
            except OSError:
                cuts += 1
                sent += progress[0] - offset
                time.sleep(0.2)
                resumed = self.offset(location)  # where the server is: the rest goes from there
                twice += progress[0] - resumed
                offset = resumed
        return {"location": location, "sent": sent, "twice": twice, "cuts": cuts}


def video(path: str, megabytes: int) -> bytes:
    """A video of about ``megabytes`` MB (lossless H.264 of a test picture, with sound)."""
    seconds = max(2, round(megabytes / 1.95))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi",
         "-i", "sine=f=440", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
         "-c:a", "aac", "-shortest", path],
        check=True,
    )  # fmt: skip
    with open(path, "rb") as f:
        return f.read()


def worker_pids(master: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in children]


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def folder_bytes(path: str) -> int:
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(folder, name))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--only", type=int, help="run one measure (not recorded)")
    args = parser.parse_args()
    wanted = {args.only} if args.only else {1, 2, 3, 4}
    port = free_port()
    folder = tempfile.mkdtemp(prefix="prystan-bench-")
    workdir = f"/dev/shm/prystan-bench-{os.getpid()}"
    env = os.environ | {
        "PRYSTAN_SECRET_KEY": secrets.token_hex(32),
        "PRYSTAN_DATABASE_URL": f"sqlite:///{folder}/bench.db",
        "PRYSTAN_STORAGE_URL": f"{folder}/uploads",
        "PRYSTAN_RESUMABLE_DIR": f"{folder}/resumable",
        "PRYSTAN_UPLOAD_WORKDIR": workdir,
        "PRYSTAN_WTF_CSRF_ENABLED": "false",
        "PRYSTAN_RATELIMIT_ENABLED": "false",
        "PRYSTAN_POW_ENABLED": "false",
        "PRYSTAN_SESSION_COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1
        "PRYSTAN_UPLOAD_MAX_MEDIA_MB": "260",  # room for a 200 MB video whatever the encoder makes of it
        "PYTHONPATH": ROOT,
    }
    bin_dir = os.path.dirname(sys.executable)
    subprocess.run([f"{bin_dir}/flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [f"{bin_dir}/gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--timeout", "300", "wsgi:app"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    results = {}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1)

        if 4 in wanted:
            results["once"] = finished_once(port, folder, workdir)
        # 1. A 50 MB upload cut at 50 %, in the middle of a PATCH.
        if wanted != {1, 2, 3, 4}:
            return
        data = os.urandom(50 * 2**20)
        proxy = CuttingProxy(port, cut_at=25 * 2**20 + 700 * 1024)
        cut = Client(proxy.port).upload(data, "cut.mp4")
        assert proxy.cut and cut["cuts"] == 1
        results["cut"] = cut
        print(f"1. 50 MB cut once at 50 %: {cut['twice']:,} bytes sent twice ({cut['twice'] / CHUNK:.2f} chunks)")

        # 2. From the last byte of a 100 MB video to the receipt.
        sample = video(os.path.join(folder, "video-100.mp4"), 100)
        client = Client(port)
        timings = {}
        uploaded = client.upload(sample, "video.mp4", on_last=lambda s: timings.setdefault("last_patch", s))
        upload_id = uploaded["location"].rsplit("/", 1)[1]
        started = time.perf_counter()
        body = urllib.parse.urlencode({"telegram": "bench_user", "body": "A long video.", "uploads": upload_id})
        form = client.request(
            "POST", "/submit/information", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        timings["form"] = time.perf_counter() - started
        assert form.status == 200 and re.search(rb'id="receipt-code">\d{4} \d{4}', form.data), form.status
        results["video"] = {"mb": len(sample) / 2**20, **timings}
        total = timings["last_patch"] + timings["form"]
        print(
            f"2. {len(sample) / 2**20:.0f} MB video: last PATCH (with the scrub) {timings['last_patch']:.2f} s, "
            f"form to receipt {timings['form']:.2f} s, in all {total:.2f} s"
        )

        # 3. A worker's memory during a 200 MB upload.
        big = video(os.path.join(folder, "video-200.mp4"), 200)
        (worker,) = worker_pids(server.pid)
        before = rss(worker)
        samples = []
        transferring = threading.Event()
        transferring.set()

        def watch():
            while transferring.is_set():
                ram = folder_bytes(workdir)
                samples.append((rss(worker) - before, ram))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        client = Client(port)
        location = client.create(len(big), "big.mp4")
        offset = 0
        while offset + CHUNK < len(big):  # every chunk but the last: the transfer itself
            offset = client.patch(location, offset, big[offset : offset + CHUNK], [0])
        transferring.clear()
        watcher.join()
        transfer = max(r + m for r, m in samples)
        # The last chunk: the whole video is decrypted into the RAM folder for the sandbox to read.
        samples.clear()
        transferring.set()
        watcher = threading.Thread(target=watch)
        watcher.start()
        client.patch(location, offset, big[offset:], [0])
        transferring.clear()
        watcher.join()
        scrub = max(r + m for r, m in samples) if samples else 0
        results["memory"] = {"mb": len(big) / 2**20, "transfer": transfer, "scrub": scrub}
        print(
            f"3. {len(big) / 2**20:.0f} MB upload: worker growth + RAM folder during the transfer "
            f"{transfer / 2**20:.1f} MB; during the scrub of the last chunk {scrub / 2**20:.1f} MB"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.record and wanted == {1, 2, 3, 4}:
        record(results)


def finished_once(port: int, folder: str, workdir: str) -> dict:
    """4. Empty PATCHes while a video is being finished: each would have scrubbed it again (issue 22, item 3)."""
    sample = video(os.path.join(folder, "video-58.mp4"), 58)
    client = Client(port)
    location = client.create(len(sample), "dashcam.mp4")
    offset = 0
    while offset + CHUNK < len(sample):
        offset = client.patch(location, offset, sample[offset : offset + CHUNK], [0])
    peak, answers, done = [0], [], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(workdir))
            time.sleep(0.02)

    def empty():
        try:
            answers.append(client.patch(location, len(sample), b"", [0]) and 204)
        except OSError as refused:
            answers.append(int(str(refused).rsplit(" ", 1)[1]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    last = threading.Thread(target=client.patch, args=(location, offset, sample[offset:], [0]))
    last.start()
    while folder_bytes(workdir) < len(sample) // 2:  # the video is being decrypted for the sandbox
        time.sleep(0.01)
    others = [threading.Thread(target=empty) for _ in range(10)]
    for thread in others:
        thread.start()
    for thread in [last, *others]:
        thread.join()
    done.set()
    watcher.join()
    taken = sum(1 for a in answers if a == 204)
    print(
        f"4. {len(sample) / 2**20:.0f} MB video, 10 empty PATCHes while it is finished: {taken} taken "
        f"(answers {sorted(answers)}), RAM folder at most {peak[0] / 2**20:.0f} MB"
    )
    return {"mb": len(sample) / 2**20, "taken": taken, "peak": peak[0]}


def record(results: dict) -> None:
    cut, video_, memory, once = results["cut"], results["video"], results["memory"], results["once"]
    lines = [
        f"\n## {datetime.date.today().isoformat()} · resumable uploads (bench/resumable.py)\n",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "gunicorn.conf.py with 1 worker, SQLite; chunks of 2 MB; the client speaks tus as tus-js-client does.\n",
        "| Measure | Result | Target |",
        "|---|---:|---:|",
        f"| 50 MB upload cut once at 50 %, mid-PATCH, by a TCP proxy: bytes sent twice | {cut['twice']:,} "
        f"({cut['twice'] / CHUNK:.2f} chunk) | < 1 chunk |",
        f"| {video_['mb']:.0f} MB video, last byte to receipt (last PATCH with the scrub {video_['last_patch']:.2f} s, "
        f"form {video_['form']:.2f} s) | {video_['last_patch'] + video_['form']:.2f} s | < 10 s |",
        f"| {memory['mb']:.0f} MB upload: worker's resident growth + RAM folder, during the transfer | "
        f"{memory['transfer'] / 2**20:.1f} MB | < 20 MB |",
        f"| the same, while its last chunk is scrubbed (the video decrypted into RAM for the sandbox) | "
        f"{memory['scrub'] / 2**20:.1f} MB | (reported) |",
        f"| {once['mb']:.0f} MB video, 10 empty PATCHes while it is finished: taken; RAM folder at most | "
        f"{once['taken']}; {once['peak'] / 2**20:.0f} MB | 0; one video |",
    ]
    with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
