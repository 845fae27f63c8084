"""A staff download of a large attachment (issue 26, item 5): its time, and how much the process's memory grows
while it is sent, for a file stored encrypted (decrypted as a stream) and for the same file stored in clear (as
before sealing). In-process, Flask's test client, a fresh SQLite database and local storage.

    .venv/bin/python bench/download.py [--megabytes 20] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sealed import make_app, migrate  # noqa: E402  (bench/sealed.py: the same app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=20)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(os.path.dirname(HERE), folder)
        migrate(app)
        from app import staff
        from app.extensions import db
        from app.models import Submission
        from app.submissions.create import store_files
        from app.uploads.intake import Received
        from app.uploads.stores import app_storage

        source = os.path.join(folder, "video.bin")
        with open(source, "wb") as f:
            f.write(os.urandom(args.megabytes * 2**20))
        lines = []
        with app.app_context():
            staff.create("bench", "moderator", "bench-password-123")
            db.session.commit()
            ids = {}
            for label, sealed in (("encrypted", True), ("in clear (before sealing)", False)):
                item = Submission(kind="information", locale="en", receipt_digest=os.urandom(32).hex(), body="x")
                if sealed:
                    from app.submissions import sealed as sealing

                    item = Submission(
                        kind="information",
                        locale="en",
                        receipt_digest=os.urandom(32).hex(),
                        **sealing.new_item_columns(sealing.Texts(body="x"), os.urandom(32)),
                    )
                received = Received("video.mp4", "video/mp4", source, os.path.getsize(source), "0" * 64, source)
                os.makedirs(app.config["UPLOAD_WORKDIR"], exist_ok=True)
                started = time.perf_counter()
                item.attachments.extend(store_files([received], app_storage(), [], public_key=item.public_key))
                stored = time.perf_counter() - started
                db.session.add(item)
                db.session.commit()
                ids[label] = (item.attachments[0].id, stored)
        client = app.test_client()
        signed = client.post("/auth/login", data={"username": "bench", "password": "bench-password-123"})
        assert signed.status_code == 303, signed.status_code
        for label, (attachment_id, stored) in ids.items():
            times, peaks = [], []
            for _ in range(5):
                tracemalloc.start()
                started = time.perf_counter()
                response = client.get(f"/moderation/attachments/{attachment_id}", buffered=False)
                size = sum(len(piece) for piece in response.response)
                response.close()
                times.append((time.perf_counter() - started) * 1000)
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
                assert size == args.megabytes * 2**20, size
            lines.append(
                f"| {args.megabytes} MB download, {label} | {statistics.median(times):.0f} | {max(times):.0f} "
                f"| {max(peaks):.1f} | {stored * 1000:.0f} |"
            )
    head = (
        f"## {datetime.date.today()} · a staff download, bench/download.py\n\nIn-process (Flask test client), "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; five downloads each. "
        "Memory: the peak of Python's allocations while one download is read (tracemalloc).\n\n"
        "| What | median ms | max ms | peak memory MB | storing it, ms |\n|---|---:|---:|---:|---:|"
    )
    text = "\n".join([head, *lines]) + "\n"
    print(text)
    if args.record:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
