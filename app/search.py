"""Full-text search in published ads' public copies (public_ads): one interface over SQLite FTS5 and PostgreSQL.
Only the clear public copies are indexed (AT-REST.md): a pending or rejected item's words are in no index. The
moderation queue searches by opening what it walks (app/submissions/queue.py).

``find(typed).condition`` is a condition on Submission for the words typed (its query joins PublicAd): every
word must occur, as a word or the start of one ("bicy" finds "Bicycle"; a single letter only as a word), in any
case and, on SQLite, with or without diacritics.

- SQLite: an FTS5 index (``public_ads_fts``) kept in step with the table by triggers; its row ids are the
  submissions' ids. Deleted rows leave the index at once, and ``forget()`` rewrites the index so that no word of
  a deleted text stays in the file.
- PostgreSQL: a stored generated ``tsvector`` column (``public_ads.search_vector``) with a GIN index, in the
  'simple' configuration (no stemming: the texts are in three languages). Stored, not only indexed: the index
  finds candidates, and each candidate is checked against its vector, which would otherwise be computed again from
  the text for every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, false, literal_column, select, text

from app import cursors
from app.extensions import db
from app.models import PublicAd, Submission

MAX_WORDS = 8
FEW = 500
STRETCHES = (250, 2000)  # rows a common word's matches are looked for in, before all the rest
VECTOR_SQL = "to_tsvector('simple', title || ' ' || body)"

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS public_ads_fts USING fts5(title, body, content='public_ads', "
    "content_rowid='submission_id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS public_ads_fts_insert AFTER INSERT ON public_ads BEGIN "
    "INSERT INTO public_ads_fts(rowid, title, body) VALUES (new.submission_id, new.title, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS public_ads_fts_delete AFTER DELETE ON public_ads BEGIN "
    "INSERT INTO public_ads_fts(public_ads_fts, rowid, title, body) "
    "VALUES ('delete', old.submission_id, old.title, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS public_ads_fts_update AFTER UPDATE OF title, body ON public_ads BEGIN "
    "INSERT INTO public_ads_fts(public_ads_fts, rowid, title, body) "
    "VALUES ('delete', old.submission_id, old.title, old.body); "
    "INSERT INTO public_ads_fts(rowid, title, body) VALUES (new.submission_id, new.title, new.body); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS public_ads_fts_update",
    "DROP TRIGGER IF EXISTS public_ads_fts_delete",
    "DROP TRIGGER IF EXISTS public_ads_fts_insert",
    "DROP TABLE IF EXISTS public_ads_fts",
]
POSTGRESQL_DDL = [
    f"ALTER TABLE public_ads ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS ({VECTOR_SQL}) STORED",
    "CREATE INDEX IF NOT EXISTS ix_public_ads_search ON public_ads USING gin (search_vector)",
]
POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS ix_public_ads_search",
    "ALTER TABLE public_ads DROP COLUMN IF EXISTS search_vector",
]
# Names the models do not declare: the migration check leaves them out.
EXTRA_NAMES = ("public_ads_fts", "ix_public_ads_search", "search_vector")


def create(connection) -> None:
    """Create the index structures (used by the migration and by create_all in tests)."""
    statements = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRESQL_DDL
    for statement in statements:
        connection.execute(text(statement))
    if connection.dialect.name == "sqlite":
        connection.execute(text("INSERT INTO public_ads_fts(public_ads_fts) VALUES ('rebuild')"))


def drop(connection) -> None:
    for statement in SQLITE_DROP if connection.dialect.name == "sqlite" else POSTGRESQL_DROP:
        connection.execute(text(statement))


@event.listens_for(PublicAd.__table__, "after_create")
def _after_create(_table, connection, **_kw):
    create(connection)


@event.listens_for(PublicAd.__table__, "before_drop")
def _before_drop(_table, connection, **_kw):
    drop(connection)


def words(typed: str) -> list[str]:
    return re.findall(r"\w+", (typed or "").casefold())[:MAX_WORDS]


def starts(term: str) -> bool:
    """Does a term also find words it starts? Not a single letter: "я" (from "сям'я") would mean every word
    starting with я, a slow search that finds nearly everything."""
    return len(term) > 1


@dataclass
class Found:
    condition: object  # on Submission
    few: bool  # the matching ids are known and few: look them up one by one rather than scan an index
    within: Callable[[int, int], object] | None = None  # SQLite: the condition for the ids from lo to hi only


def find(typed: str) -> Found:
    """The condition for the words typed, and whether it is known to hold for only a few items.

    Matching items are looked up first, at most FEW + 1 of them. A rare word (a name, a username) matches only
    a few: the condition is then their ids, which the caller can fetch directly. Neither database can tell a
    rare word from a common one beforehand: SQLite would walk the whole queue in order to find three items,
    and PostgreSQL does the same when it takes a rare word for a common one (a word start it has no
    statistics for).

    A common word matches thousands. On SQLite, ``within(lo, hi)`` then limits the match to a range of ids,
    which FTS5 seeks to: SQLite would otherwise gather every match to hold against the list (first_matches).
    """
    terms = words(typed)
    if not terms:
        return Found(false(), few=True)
    if db.session.get_bind().dialect.name == "sqlite":
        # \w+ holds no quote: each term is a plain token
        query = " ".join(f'"{term}"*' if starts(term) else f'"{term}"' for term in terms)
        rowid = literal_column("rowid")
        found = (
            select(rowid)
            .select_from(text("public_ads_fts"))
            .where(text("public_ads_fts MATCH :fts_query").bindparams(fts_query=query))
        )
        condition = Submission.id.in_(found)

        def within(lo: int, hi: int):
            return Submission.id.in_(found.where(rowid.between(lo, hi)))
    else:
        query = " & ".join(f"{term}:*" if starts(term) else term for term in terms)
        condition = literal_column("public_ads.search_vector").op("@@")(
            text("to_tsquery('simple', :ts_query)").bindparams(ts_query=query)
        )
        found = select(PublicAd.submission_id).where(condition)

        # No stretches: the stored vectors give the planner statistics, and checking a row's vector is cheap,
        # so PostgreSQL walks the list's own index and stops at a page, whatever the number of matches.
        within = None
    first = db.session.scalars(found.limit(FEW + 1)).all()
    if len(first) <= FEW:
        return Found(Submission.id.in_(first), few=True)
    return Found(condition, few=False, within=within)


def first_matches(found: Found, query, key, position: tuple | None, limit: int, newest_first: bool = False) -> list:
    """The first rows of a list that match a search found to match thousands, a stretch of the list at a time.

    ``query`` selects the list without the search; ``key`` (a tuple_ ending with Submission.id) is its order.
    A stretch is the list's next rows: their matches are looked up within the range of their ids, which FTS5
    seeks to, and only as far as the stretch's last row, so the order and the pages are exactly those
    of the whole list. A common word fills a page from the first stretch. A word common elsewhere but rare in
    this list goes on to the rest of it.
    """
    rows: list = []
    for stretch in STRETCHES if found.within else ():
        keys = db.session.execute(
            cursors.onward(query.with_only_columns(*key.clauses), key, position, newest_first).limit(stretch)
        ).all()
        if len(keys) < stretch:
            break  # what is left of the list is shorter than the stretch
        ids = [row[-1] for row in keys]
        last = tuple(keys[-1])
        matching = query.where(found.within(min(ids), max(ids)), key >= last if newest_first else key <= last)
        rows += db.session.execute(cursors.onward(matching, key, position, newest_first).limit(limit - len(rows))).all()
        position = last
        if len(rows) >= limit:
            return rows
    rest = cursors.onward(query.where(found.condition), key, position, newest_first)
    return rows + db.session.execute(rest.limit(limit - len(rows))).all()


def forget() -> None:
    """Rewrite the SQLite index so that the words of deleted texts are gone from the file, not only hidden."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("INSERT INTO public_ads_fts(public_ads_fts) VALUES ('optimize')"))
        db.session.commit()


def keyset_page(query, key, position, size: int, *, stretched: Found | None = None, newest_first: bool = False):
    """One page of a list in the order of ``key`` after ``position``, and whether more follow: the queue and /ads
    alike. ``stretched``: a search for common words, looked up a stretch of the list at a time (first_matches);
    otherwise the query already holds every condition."""
    if stretched:
        rows = first_matches(stretched, query, key, position, size + 1, newest_first=newest_first)
    else:
        rows = db.session.execute(cursors.onward(query, key, position, newest_first).limit(size + 1)).all()
    return rows[:size], len(rows) > size
