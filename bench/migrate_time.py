"""How long `flask crypto migrate` takes on a site of N items stored before sealing (issue 27): the sealing
passes (the site stays up), then the compaction after them: on SQLite VACUUM and a checkpoint, on PostgreSQL
VACUUM FULL of the sealed tables, which locks each table while it runs (the maintenance window the command
announces). Items only: a file's cost is its encryption (bench/download.py: about 50 ms per 20 MB).

    .venv/bin/python bench/migrate_time.py --count 100000 [--database URL] [--record]

Without --database: SQLite in a temporary folder. A PostgreSQL database given is emptied first.
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from generate import fill  # noqa: E402

from app import create_app, erasure  # noqa: E402
from app.cli_crypto import SEALED_TABLES  # noqa: E402
from app.extensions import db  # noqa: E402
from app.submissions import migrate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--database")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="prystan-bench-")
    app = create_app(
        {
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "DATABASE_URL": args.database or f"sqlite:///{folder}/bench.db",
            "STORAGE_URL": f"{folder}/uploads",
            "UPLOAD_WORKDIR": f"{folder}/work",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        fill(args.count, clear=True)
        print(f"{args.count} items in clear stored in {time.perf_counter() - started:.0f} s")
        if db.engine.dialect.name == "sqlite":
            size_before = sum(os.path.getsize(f"{folder}/bench.db{end}") for end in ("", "-wal"))
        started = time.perf_counter()
        done = migrate.run(None, batch=500, progress=lambda _line: None)
        sealing = time.perf_counter() - started
        assert done.items == args.count and not any(migrate.in_clear().values())
        started = time.perf_counter()
        erasure.compact(SEALED_TABLES, full=True)
        compaction = time.perf_counter() - started
        dialect = db.engine.dialect.name
    what = "VACUUM FULL of the sealed tables (they are locked)" if dialect == "postgresql" else "VACUUM and checkpoint"
    lines = [
        f"Sealing {args.count} items: {sealing:.0f} s ({sealing / args.count * 1000:.2f} ms an item), site up",
        f"{what}: {compaction:.1f} s",
    ]
    if dialect == "sqlite":
        size_after = sum(os.path.getsize(f"{folder}/bench.db{end}") for end in ("", "-wal"))
        lines.append(f"database file and log: {size_before / 2**20:.0f} MB before, {size_after / 2**20:.0f} MB after")
    print("\n".join(lines))
    if args.record:
        day = datetime.date.today().isoformat()
        with open(os.path.join(HERE, "RESULTS.md"), "a") as out:
            out.write(
                f"\n## {day} · flask crypto migrate, {args.count} items in clear · {dialect} "
                "(bench/migrate_time.py)\n\n"
                f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; batches of "
                "500, no files.\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
            )


if __name__ == "__main__":
    main()
