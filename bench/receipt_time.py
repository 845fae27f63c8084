"""Time from sending a form to seeing the receipt, for the two heavy cases of issue 12:
10 phone photos of about 5 MB each, and a 20-page scanned PDF.

Starts the app under gunicorn (gunicorn.conf.py, SQLite in a temporary folder), warms it up, then sends each
submission three times and reports the median. Appends the figures to bench/RESULTS.md with --record.

    .venv/bin/python bench/receipt_time.py [--record] [--root PATH]

--root runs the app of another checkout (an older commit, for a before/after on the same machine).
"""

import argparse
import datetime
import io
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import img2pdf
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from upload_memory import multipart, photo  # noqa: E402  (the same photos as the memory benchmark)


def scanned_pdf(pages: int = 20) -> bytes:
    """A PDF as a scanner app makes it: one grey JPEG per A4 page at 200 dpi, lines of 'text' and paper noise."""
    rng = random.Random(7)
    images = []
    for _ in range(pages):
        page = Image.new("L", (1654, 2339), 235)
        draw = ImageDraw.Draw(page)
        for line in range(60):
            y = 160 + line * 34
            x = 150
            while x < 1450:
                width = rng.randint(20, 90)
                draw.rectangle((x, y, x + width, y + 14), fill=rng.randint(20, 70))
                x += width + rng.randint(10, 22)
        noise = Image.frombytes("L", (827, 1170), rng.randbytes(827 * 1170)).resize(page.size)
        page = Image.blend(page, noise, 0.08)
        out = io.BytesIO()
        page.save(out, "JPEG", quality=75, dpi=(200, 200))
        images.append(out.getvalue())
    return img2pdf.convert(images)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, fields: dict, files: list, content_type: str) -> float:
    body, header = multipart(fields, files, content_type)
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": header})
    with urllib.request.urlopen(request, timeout=300) as response:
        page = response.read().decode()
    elapsed = time.perf_counter() - started
    assert "receipt-code" in page, "the submission was not accepted"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.path.dirname(HERE))
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    photos = [(f"photo-{i}.jpg", photo(i)) for i in range(10)]
    document = [("scan.pdf", scanned_pdf())]
    port = free_port()
    folder = tempfile.mkdtemp(prefix="prystan-bench-")
    env = os.environ | {
        "PRYSTAN_SECRET_KEY": secrets.token_hex(32),
        "PRYSTAN_DATABASE_URL": f"sqlite:///{folder}/bench.db",
        "PRYSTAN_STORAGE_URL": f"{folder}/uploads",
        "PRYSTAN_WTF_CSRF_ENABLED": "false",
        "PRYSTAN_RATELIMIT_ENABLED": "false",
        "PRYSTAN_POW_ENABLED": "false",
        "PYTHONPATH": root,
    }
    bin_dir = os.path.dirname(sys.executable)
    subprocess.run(
        [f"{bin_dir}/flask", "--app", "wsgi", "db", "upgrade"], cwd=root, env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [
            f"{bin_dir}/gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "wsgi:app",
        ],
        cwd=root,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/submit/information"
    results = {}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url).read()
                break
            except OSError:
                time.sleep(0.2)
        cases = {
            "10 photos, %.1f MB" % (sum(len(d) for _, d in photos) / 2**20): (photos, "image/jpeg"),
            "20-page scanned PDF, %.1f MB" % (len(document[0][1]) / 2**20): (document, "application/pdf"),
        }
        for name, (files, content_type) in cases.items():
            times = []
            for run in range(4):
                fields = {"telegram": "bench_user", "body": f"Receipt benchmark {name} {run} {secrets.token_hex(4)}."}
                elapsed = post(url, fields, files, content_type)
                if run:  # the first run warms up the worker that takes it
                    times.append(elapsed)
            results[name] = statistics.median(times)
            print(f"{name}: median {results[name]:.2f} s of {', '.join(f'{t:.2f}' for t in times)}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    if args.record:
        record(results, args.label)


def record(results: dict, label: str) -> None:
    day = datetime.date.today().isoformat()
    lines = [
        f"\n## {day} · time to a receipt (bench/receipt_time.py){' · ' + label if label else ''}\n",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; gunicorn.conf.py; "
        "median of three runs after a warm-up.\n",
        "| Submission | Time to receipt |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {seconds:.2f} s |" for name, seconds in results.items()]
    with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
