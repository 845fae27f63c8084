"""Measure how much a 50 MB upload grows a worker's resident memory.

Starts the app under gunicorn (one sync worker, SQLite in a temporary folder), sends one submission
with 10 photos of about 5 MB each, and reads the worker's memory from /proc before, at its peak
(VmHWM, reset just before the request) and after. The goal: the peak grows by no more than 20 MB.

    .venv/bin/python bench/upload_memory.py
"""

import io
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def photo(seed: int, target: int = int(4.9 * 2**20)) -> bytes:
    """A JPEG of noise of about ``target`` bytes (noise does not compress: size follows pixels)."""
    rng = random.Random(seed)

    def encode(side: int) -> bytes:
        out = io.BytesIO()
        Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "JPEG", quality=92)
        return out.getvalue()

    trial = encode(800)
    return encode(int(800 * (target / len(trial)) ** 0.5))


def memory(pid: int) -> dict:
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def worker_of(master: int) -> int:
    for _ in range(100):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().split(")")[1].split()[1]) == master:
                            return int(entry)
                except OSError:
                    continue
        time.sleep(0.1)
    raise RuntimeError("no worker")


def multipart(fields: dict, files: list, content_type: str = "image/jpeg") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, data in files:
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def main() -> None:
    photos = [(f"photo-{i}.jpg", photo(i)) for i in range(10)]
    total = sum(len(d) for _, d in photos)
    body, content_type = multipart({"telegram": "bench_user", "body": "Memory benchmark."}, photos)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="prystan-bench-")
    env = os.environ | {
        "PRYSTAN_SECRET_KEY": secrets.token_hex(32),
        "PRYSTAN_DATABASE_URL": f"sqlite:///{folder}/bench.db",
        "PRYSTAN_STORAGE_URL": f"{folder}/uploads",
        "PRYSTAN_UPLOAD_WORKDIR": f"{folder}/incoming",
        "PRYSTAN_WTF_CSRF_ENABLED": "false",
        "PRYSTAN_RATELIMIT_ENABLED": "false",
    }
    bin_dir = os.path.dirname(sys.executable)
    subprocess.run(
        [f"{bin_dir}/flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [f"{bin_dir}/gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "300", "wsgi:app"],
        cwd=ROOT,
        env=env,
    )
    try:
        worker = worker_of(server.pid)
        url = f"http://127.0.0.1:{port}/submit/information"
        for _ in range(50):
            try:
                urllib.request.urlopen(url).read()  # warm up: imports, templates, a first request
                break
            except OSError:
                time.sleep(0.2)
        with open(f"/proc/{worker}/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current resident size
        before = memory(worker)
        started = time.perf_counter()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request) as response:
            page = response.read().decode()
        elapsed = time.perf_counter() - started
        after = memory(worker)
        assert "receipt-code" in page, "the submission was not accepted"
        print(f"upload: {len(photos)} photos, {total / 2**20:.1f} MB in all; request took {elapsed:.2f} s")
        print(f"worker RSS before: {before['VmRSS']:.1f} MB, after: {after['VmRSS']:.1f} MB")
        print(f"worker peak (VmHWM) before: {before['VmHWM']:.1f} MB, after: {after['VmHWM']:.1f} MB")
        growth = after["VmHWM"] - before["VmHWM"]
        print(f"peak growth: {growth:.1f} MB (goal: at most 20 MB) -> {'OK' if growth <= 20 else 'OVER'}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
