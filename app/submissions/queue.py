"""Reading the moderation queue: filters, keyset pages, counts. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import selectinload

from app import cursors, search
from app.extensions import db
from app.models import Attachment, Submission

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import SQLCoreOperations

    from app.models import Event

PAGE_SIZE = 25
COUNT_LIMIT = 2000

_key = tuple_(Submission.created_at, Submission.id)  # the queue's order


# The views beside the status filter: one's own open cases, every open case, the items with unread answers.
VIEWS = ("mine", "open", "answers")


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


def _where(filters: Filters, found: search.Found | None, *, with_kind: bool = True) -> list[SQLCoreOperations[bool]]:
    status: SQLCoreOperations[str] = Submission.status
    if found and found.few:
        # `|| ''` keeps the database from walking the whole queue's index for a handful of known ids.
        status = Submission.status + ""
    conditions = _view(filters, status)
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
    if found:
        conditions.append(cast("SQLCoreOperations[bool]", found.condition))
    return conditions


def _view(filters: Filters, status: SQLCoreOperations[str]) -> list[SQLCoreOperations[bool]]:
    if filters.view == "answers":
        return [Submission.new_answer.is_(True), status.in_(("pending", "approved"))]
    if filters.view in ("open", "mine"):
        conditions: list[SQLCoreOperations[bool]] = [Submission.is_open_case]
        if filters.view == "mine":
            conditions.append(Submission.assigned_to_id == filters.user_id)
        return conditions
    return [status == filters.status]


def case_counts(user_id: int) -> dict[str, int]:
    """How many items each view holds (the "Cases" tabs)."""
    counted: dict[str, int] = {}
    for view in VIEWS:
        conditions = _view(Filters(view=view, user_id=user_id), Submission.status)
        counted[view] = cast("int", db.session.scalar(select(func.count()).select_from(Submission).where(*conditions)))
    return counted


def _found(filters: Filters) -> search.Found | None:
    return search.find(filters.q) if filters.q else None


def page(filters: Filters, after: str | None = None, size: int = PAGE_SIZE) -> tuple[list[Row], str | None]:
    """One page of the queue, oldest first, and the cursor of the next page (None at the end)."""
    found = _found(filters)
    position = cursors.decode(after)
    attachments = select(func.count(Attachment.id)).where(Attachment.submission_id == Submission.id).scalar_subquery()
    stretched = found if found and not found.few else None
    query = select(Submission, attachments).where(*_where(filters, None if stretched else found))
    query = query.options(selectinload(Submission.assigned_to))
    found_rows, more = search.keyset_page(query, _key, position, size, stretched=stretched)
    rows = [Row(s, n) for s, n in found_rows]
    last = rows[-1].submission if more and rows else None
    return rows, (cursors.encode(last.created_at, last.id) if last else None)


def counts(filters: Filters) -> tuple[dict[str, int], bool]:
    """How many items each tab holds, with the other filters applied, and whether that is only a lower bound.

    A search that matches thousands of items is counted up to COUNT_LIMIT matches: its tabs say "2000+".
    """
    matching = select(Submission.kind).where(*_where(filters, _found(filters), with_kind=False))
    if filters.q:
        matching = matching.limit(COUNT_LIMIT + 1)
    subquery = matching.subquery()
    found: dict[str, int] = dict(
        db.session.execute(select(subquery.c.kind, func.count()).group_by(subquery.c.kind)).all()
    )
    result = {kind: found.get(kind, 0) for kind in Submission.KINDS}
    result["all"] = sum(found.values())
    if filters.q and result["all"] > COUNT_LIMIT:
        result["all"] = COUNT_LIMIT
        return result, True
    return result, False


def newest_id() -> int:
    return db.session.scalar(select(func.max(Submission.id))) or 0


def arrived_since(last_id: int, filters: Filters) -> int:
    """Items that arrived after the page was drawn and match its filters."""
    conditions = _where(filters, _found(filters))
    query = select(func.count()).select_from(Submission).where(Submission.id > last_id, *conditions)
    return cast("int", db.session.scalar(query))  # a count is never NULL


def history(submission_id: int) -> list[Event]:
    from app.models import Event

    query = select(Event).where(Event.submission_id == submission_id).order_by(Event.id)
    return list(db.session.scalars(query))
