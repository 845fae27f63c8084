"""What a page-cache hit pays to learn whether the site changed (app/pagecache.py), per call, in-process.

    .venv/bin/python bench/state_cost.py                                   # SQLite (a temporary database)
    .venv/bin/python bench/state_cost.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        --redis redis://127.0.0.1:6379

Prints the median of five runs of N calls of each way: the newest audit event as a query (what every hit paid
before), PRAGMA data_version alone, the SQLite state as a hit reads it, and the Redis state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app, pagecache
from app.extensions import db


def per_call(function, n: int) -> float:
    """Microseconds per call: the median of five runs."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            function()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="")
    parser.add_argument("--redis", default="")
    parser.add_argument("-n", type=int, default=5000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="prystan-state-")
    app = create_app(
        {
            "SECRET_KEY": "state-" + "k" * 40,
            "DATABASE_URL": args.database or f"sqlite:///{workdir}/state.db",
            "STORAGE_URL": f"{workdir}/uploads",
            "UPLOAD_WORKDIR": f"{workdir}/incoming",
            "RESUMABLE_DIR": f"{workdir}/resumable",
        }
    )
    with app.app_context():
        if not args.database:
            db.create_all()
        print(f"{db.engine.url.get_backend_name()}, {args.n} calls each, µs per call:")
        print(f"  newest audit event, a query on a pooled connection: {per_call(pagecache.newest_event, args.n):6.1f}")
        if db.engine.url.get_backend_name() == "sqlite":
            state = pagecache.SQLiteState(db.engine.url.database)
            state.read()
            pragma = lambda: state.connection.execute("PRAGMA data_version").fetchone()  # noqa: E731
            print(f"  PRAGMA data_version alone:                          {per_call(pragma, args.n):6.1f}")
            print(f"  SQLiteState.read() (a hit: pragma, lock, no change): {per_call(state.read, args.n):6.1f}")
        if args.redis:
            state = pagecache.RedisState(args.redis, key="prystan:bench:state-cost")
            state.read()
            print(f"  RedisState.read() (a hit: one GET; a query a second): {per_call(state.read, args.n):6.1f}")
            state.redis.delete(state.key)


if __name__ == "__main__":
    main()
