"""Reading the moderation queue: filters, keyset pages, counts, and search. No writes here.

What the sender wrote is sealed (sealed.py), so no index holds it: a search opens the rows it walks, in the queue's
keyset order, and keeps those whose title, text or city hold every word typed (never the Telegram username). It
stops at a page's worth of matches, or after SEARCH_ROWS rows or SEARCH_SECONDS of CPU, whichever comes first, and
then says how far it searched, with a cursor to search further (GlobaLeaks searches the same way). Kind, category,
status and dates stay SQL conditions, applied before anything is opened.
"""

from __future__ import annotations

import re
import time as clock
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import selectinload

from app import cursors, search
from app.extensions import db
from app.models import Attachment, Submission

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.sql.elements import SQLCoreOperations

    from app.models import Event
    from app.submissions.sealed import Opener, Texts

PAGE_SIZE = 25
SEARCH_ROWS = 2000  # rows a search opens per request, at most
SEARCH_SECONDS = 0.25  # CPU a search spends per request, at most
SEARCH_BATCH = 100  # rows read from the database at a time

_key = tuple_(Submission.created_at, Submission.id)  # the queue's order


# The views beside the status filter: one's own open cases, every open case, the items with unread answers, and
# what was sent on the onion without the puzzle and waits apart (unproved.py).
VIEWS = ("mine", "open", "answers", "unproved")


@dataclass
class Filters:
    kind: str | None = None
    status: str = "pending"
    view: str | None = None
    user_id: int | None = None  # whose cases "mine" lists
    category: str | None = None
    has_attachments: bool | None = None
    since: date | None = None
    until: date | None = None
    q: str = ""


@dataclass
class Row:
    submission: Submission
    attachments: int
    texts: Texts | None  # None: locked to this reader. Never the username: the list shows none (reveals.py)

    def __post_init__(self) -> None:
        if self.texts is not None:
            self.texts = self.texts.changed(telegram=None)


@dataclass
class Page:
    rows: list[Row]
    cursor: str | None  # where the next page (or the search's next stretch) begins; None at the end
    searched_to: datetime | None = None  # a search that stopped before the end: the last item it looked at was sent
    searched: int = 0  # rows a search opened
    locked: int = 0  # rows a search could not open (not searched)


def _where(filters: Filters, *, with_kind: bool = True) -> list[SQLCoreOperations[bool]]:
    conditions = _view(filters, Submission.status)
    if with_kind and filters.kind:
        conditions.append(Submission.kind == filters.kind)
    if filters.category:
        conditions.append(Submission.category == filters.category)
    if filters.has_attachments is not None:
        exists = select(Attachment.id).where(Attachment.submission_id == Submission.id).exists()
        conditions.append(exists if filters.has_attachments else ~exists)
    if filters.since:
        conditions.append(Submission.created_at >= datetime.combine(filters.since, time.min))
    if filters.until:
        conditions.append(Submission.created_at < datetime.combine(filters.until + timedelta(days=1), time.min))
    return conditions


def _view(filters: Filters, status: SQLCoreOperations[str]) -> list[SQLCoreOperations[bool]]:
    if filters.view == "answers":
        return [Submission.new_answer.is_(True), status.in_(("pending", "approved")), Submission.unproved.is_(False)]
    if filters.view == "unproved":
        return [Submission.unproved.is_(True), status == "pending"]
    if filters.view in ("open", "mine"):
        conditions: list[SQLCoreOperations[bool]] = [Submission.is_open_case]
        if filters.view == "mine":
            conditions.append(Submission.assigned_to_id == filters.user_id)
        return conditions
    conditions = [status == filters.status]
    if filters.status == "pending":
        conditions.append(Submission.unproved.is_(False))  # (the tab's pending items wait there alone)
    return conditions


def case_counts(user_id: int) -> dict[str, int]:
    """How many items each view holds (the "Cases" tabs)."""
    counted: dict[str, int] = {}
    for view in VIEWS:
        conditions = _view(Filters(view=view, user_id=user_id), Submission.status)
        counted[view] = cast("int", db.session.scalar(select(func.count()).select_from(Submission).where(*conditions)))
    return counted


def page(filters: Filters, opener: Opener, after: str | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of the queue, oldest first, each row opened by ``opener``; a search (filters.q) walks from the
    cursor as the module says."""
    position = cursors.decode(after)
    attachments = select(func.count(Attachment.id)).where(Attachment.submission_id == Submission.id).scalar_subquery()
    query = select(Submission, attachments).where(*_where(filters)).options(selectinload(Submission.assigned_to))
    terms = [_plain(word) for word in search.words(filters.q)]
    if filters.q and terms:
        return _search(query, opener, terms, position, size)
    if filters.q:
        return Page([], None)  # nothing searchable was typed: nothing matches
    found, more = search.keyset_page(query, _key, position, size)
    rows = [Row(s, n, opener.texts(s)) for s, n in found]
    last = rows[-1].submission if more and rows else None
    return Page(rows, cursors.encode(last.created_at, last.id) if last else None)


# What a search reads of each row it walks: enough to open its words, not the whole row. The rows that match are
# then loaded whole, with their attachments' count, in one query.
_SEARCHED = (
    Submission.id,
    Submission.created_at,
    Submission.epoch_id,
    Submission.public_key,
    Submission.key_for_queue,
    Submission.key_for_receipt,
    Submission.sealed,
    Submission.telegram,
    Submission.title,
    Submission.body,
    Submission.city,
)


def _search(
    query: Select[Submission, int],
    opener: Opener,
    terms: list[str],
    position: tuple[datetime, int] | None,
    size: int,
) -> Page:
    walked = query.with_only_columns(*_SEARCHED)
    matched: dict[int, Texts] = {}
    searched = locked = 0
    started = clock.process_time()
    while True:
        batch = db.session.execute(cursors.onward(walked, _key, position, False).limit(SEARCH_BATCH)).all()
        for row in batch:
            if len(matched) == size:  # one more row after a full page: the page ends at its last match
                return _found(query, matched, cursor=True, searched=searched, locked=locked)
            texts = opener.texts(row)
            searched += 1
            if texts is None:
                locked += 1
            elif matches(texts, terms):
                matched[row.id] = texts
            if searched >= SEARCH_ROWS or clock.process_time() - started >= SEARCH_SECONDS:
                page = _found(query, matched, cursor=False, searched=searched, locked=locked)
                page.cursor, page.searched_to = cursors.encode(row.created_at, row.id), row.created_at
                return page
        if len(batch) < SEARCH_BATCH:
            return _found(query, matched, cursor=False, searched=searched, locked=locked)
        position = (batch[-1].created_at, batch[-1].id)


def _found(
    query: Select[Submission, int], matched: dict[int, Texts], *, cursor: bool, searched: int, locked: int
) -> Page:
    """The matching rows, whole and in the queue's order; with the cursor after the last one if ``cursor``."""
    loaded = db.session.execute(query.where(Submission.id.in_(matched)).order_by(*_key.clauses)).all()
    rows = [Row(submission, attachments, matched[submission.id]) for submission, attachments in loaded]
    last = rows[-1].submission if cursor and rows else None
    return Page(rows, cursors.encode(last.created_at, last.id) if last else None, searched=searched, locked=locked)


def _plain(text: str) -> str:
    """Lower case without diacritics, as the readers' search compares ("Минск" finds "минск", "café" "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def matches(texts: Texts, terms: list[str]) -> bool:
    """Every term occurs in the title, text or city, as a word or the start of one (a single letter only as a
    word). The Telegram username is never searched."""
    words = set(re.findall(r"\w+", _plain(" ".join(filter(None, (texts.title, texts.body, texts.city))))))
    return all(term in words or (search.starts(term) and any(w.startswith(term) for w in words)) for term in terms)


def counts(filters: Filters) -> dict[str, int]:
    """How many items each tab holds, with the other filters applied (a search is not counted: it would mean
    opening every item)."""
    matching = select(Submission.kind).where(*_where(filters, with_kind=False)).subquery()
    found: dict[str, int] = dict(
        db.session.execute(select(matching.c.kind, func.count()).group_by(matching.c.kind)).all()
    )
    result = {kind: found.get(kind, 0) for kind in Submission.KINDS}
    result["all"] = sum(found.values())
    return result


def newest_id() -> int:
    return db.session.scalar(select(func.max(Submission.id))) or 0


def arrived_since(last_id: int, filters: Filters) -> int:
    """Items that arrived after the page was drawn and match its filters (not its search: see counts)."""
    conditions = _where(filters)
    query = select(func.count()).select_from(Submission).where(Submission.id > last_id, *conditions)
    return cast("int", db.session.scalar(query))  # a count is never NULL


def history(submission_id: int) -> list[Event]:
    from app.models import Event

    query = select(Event).where(Event.submission_id == submission_id).order_by(Event.id)
    return list(db.session.scalars(query))
