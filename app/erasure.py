"""After a deletion that must be final: leave no copy of the deleted text in any database file.

SQLite (with ``secure_delete`` on, app/__init__.py) overwrites freed space in the database file, but every change
first goes to the write-ahead log, which keeps the pages as they were until a checkpoint, and whose old frames
stay in the file until they are written over. So after a withdrawal or a purge the full-text index is rewritten
(search.forget) and the log is checkpointed in TRUNCATE mode, which empties the -wal file. A checkpoint cannot
finish while another connection is reading an older snapshot: it answers "busy", and is tried again for a while.
What is left then is reported (logged, and returned).

PostgreSQL keeps deleted rows (and the old versions of changed ones) until VACUUM marks their space free, and
its own WAL (and archives, replicas and backups) keep copies for longer: there, deletion is reduced, not made
perfect (SECURITY.md). Every erasure (purge, a withdrawal, an admin's delete, forgetting a contact) runs VACUUM
on the tables it changed, through settle().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from sqlalchemy.exc import OperationalError

from app import search
from app.extensions import db

log = logging.getLogger(__name__)
TRIES = 20  # each waits up to 2 × PAUSE: about 4 s of a reader holding an old snapshot
PAUSE = 0.1
LOCK_WAIT = 10  # seconds VACUUM FULL waits for a table's lock, each try
LOCK_TRIES = 3


def settle(tables: Iterable[str], *, texts: bool = True) -> int:
    """Make a deletion in ``tables`` as final as the database allows: on SQLite, checkpoint the log and return its
    frames still left (0: nothing of it remains); on PostgreSQL, VACUUM those tables. ``texts``: the deletion took
    words out of the search index too (not so for keys)."""
    if texts:
        search.forget()
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        vacuum(tables)
    if dialect != "sqlite":
        return 0
    db.session.commit()  # no transaction of our own may hold a snapshot
    remaining = 0
    with db.engine.connect() as connection:
        # Each try waits for readers a short while (not the connection's usual 10 s), then the loop tries again.
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(PAUSE * 1000)}")
        try:
            for _ in range(TRIES):
                busy, frames, done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                remaining = frames - done if frames > 0 else 0
                if not busy and remaining == 0:
                    return 0
                time.sleep(PAUSE)
        finally:
            connection.exec_driver_sql("PRAGMA busy_timeout=10000")
    log.warning(
        "deleted data may remain in the SQLite write-ahead log: %d frames could not be checkpointed "
        "while another connection was reading",
        remaining,
    )
    return max(remaining, 1)


def vacuum(tables: Iterable[str], *, full: bool = False) -> bool:
    """PostgreSQL: mark the space of deleted rows free, so that it is written over sooner (not overwritten now);
    ``full``: rewrite each table and its indexes into new files instead. VACUUM FULL takes a lock that every query
    of the table waits behind: it waits for one at most LOCK_WAIT (a transaction left open elsewhere would
    otherwise stop the site), tries again LOCK_TRIES times, and answers False if some table was left as it was.
    VACUUM cannot run inside a transaction: on a connection of its own, in autocommit."""
    db.session.commit()
    done = True
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if full:
            connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_WAIT}s'")
        for table in tables:
            for _ in range(LOCK_TRIES if full else 1):
                try:
                    connection.exec_driver_sql(f'VACUUM {"FULL " if full else ""}"{table}"')
                    break
                except OperationalError:  # (the lock did not come in time)
                    time.sleep(PAUSE)
            else:
                log.warning("VACUUM FULL of %s did not get its lock in time", table)
                done = False
    return done


def compact(tables: Iterable[str], *, full: bool) -> bool:
    """After the words of many rows were sealed in place (`flask crypto migrate`): leave none of them in clear in
    the database files. SQLite: the search index rewritten, the whole file rebuilt (VACUUM writes every page anew)
    and the log checkpointed. PostgreSQL: VACUUM FULL of ``tables`` (each rewritten into new files, the old ones
    removed; it locks each table while it runs) when ``full``, else a plain VACUUM (the old row versions' space
    marked free, written over later). False if something could not be done now (the site was busy): try again."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return vacuum(tables, full=full)
    if dialect != "sqlite":
        return True
    search.forget()
    db.session.commit()
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
    except OperationalError:  # (the database stayed locked by a writer past the busy timeout)
        log.warning("VACUUM could not run: the database was busy")
        return False
    return settle(tables, texts=False) == 0
