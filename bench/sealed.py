"""What sealing costs (issue 25, item 7), measured in-process with Flask's test client on a fresh SQLite database:
the moderation queue's first page, a queue search (and how far one request reaches), the readers' /ads page, and
the time from a form to its receipt (with the site's receipt costs: Argon2id at RECEIPT_OPSLIMIT/MEMLIMIT).

    .venv/bin/python bench/sealed.py --count 100000            # rows sealed as create() seals them
    .venv/bin/python bench/sealed.py --count 100000 --clear    # the same rows in clear, as before sealing
    .venv/bin/python bench/sealed.py --submit-only --root PATH # only the form timing, for another checkout

--record appends the figures to bench/RESULTS.md. In-process figures leave out the web server: compare them with
each other (sealed against clear), not with bench/run.py's wrk figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def timed(get, times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        response = get()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise SystemExit(f"{response.status_code} from the bench")
    return samples


def line(name: str, samples: list[float], extra: str = "") -> str:
    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
    return f"| {name} | {len(samples)} | {p50:.1f} | {p95:.1f} | {extra} |"


def make_app(root: str, folder: str):
    sys.path.insert(0, root)
    from app import create_app

    return create_app(
        {
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "STORAGE_URL": os.path.join(folder, "uploads"),
            "UPLOAD_WORKDIR": os.path.join(folder, "work"),
            "RESUMABLE_DIR": os.path.join(folder, "resumable"),
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=os.path.join(app.root_path, os.pardir, "migrations"))


def submit_times(app, times: int) -> list[float]:
    client = app.test_client()
    data = {"telegram": "bench_sender", "title": "A parcel", "body": "Text of the tip, a few sentences long. " * 8}
    counter = iter(range(10**6))
    return timed(
        lambda: client.post("/submit/information", data=data | {"body": f"{next(counter)} {data['body']}"}), times
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--clear", action="store_true")
    parser.add_argument("--submit-only", action="store_true")
    parser.add_argument("--root", default=os.path.dirname(HERE))
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(args.root, folder)
        migrate(app)
        if not args.submit_only:
            sys.path.insert(0, HERE)
            from generate import PASSWORD, fill

            from app.extensions import db

            started = time.monotonic()
            with app.app_context():
                fill(args.count, clear=args.clear)
                db.session.commit()
            print(f"{args.count} rows in {time.monotonic() - started:.0f} s")
            client = app.test_client()
            signed = client.post("/auth/login", data={"username": "bench", "password": PASSWORD})
            assert signed.status_code == 303, signed.status_code
            client.get("/moderation")  # warm
            lines.append(line("queue, first page", timed(lambda: client.get("/moderation"), 200)))
            for word in ("family", "electrician children", "zzzunknown"):
                reached = []

                def search(word=word, reached=reached):
                    response = client.get(f"/moderation?q={word}")
                    html = response.get_data(as_text=True)
                    rows = html.count('class="queue-row')
                    far = re.search(r"Searched the items sent up to ([^.]+)\.", html)
                    if far:
                        reached.append(f"{rows} rows shown; stopped at the window, at an item sent {far.group(1)}")
                    else:
                        reached.append(f"{rows} rows shown; {'a full page' if rows == 25 else 'the whole queue'}")
                    return response

                samples = timed(search, 30)
                lines.append(line(f"queue search `{word}`", samples, reached[-1]))
            lines.append(line("/ads first page (cache off)", timed(lambda: client.get("/ads?nocache=1"), 100)))
        lines.append(line("form to receipt (information, no files)", submit_times(app, 20)))
    kind = "submit only" if args.submit_only else ("clear rows" if args.clear else "sealed rows")
    head = (
        f"## {datetime.date.today()} · SQLite · {'' if args.submit_only else f'{args.count:,} submissions · '}{kind}"
        f"\n\nbench/sealed.py, in-process (Flask test client), {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; root {os.path.basename(os.path.abspath(args.root))}.\n\n"
        "| What | requests | p50 ms | p95 ms | notes |\n|---|---:|---:|---:|---|"
    )
    text = "\n".join([head, *lines]) + "\n"
    print(text)
    if args.record:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
