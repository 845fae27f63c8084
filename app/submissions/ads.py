"""Reading published ads: what is live, filters, search, keyset pages. No writes here, and no cryptography: readers
see the ads' clear public copies (public_copy.py), loaded with each ad as ``ad.public_copy``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import contains_eager, selectinload

from app import search
from app.extensions import db
from app.models import PUBLIC_ID_PATTERN, Attachment, PublicAd, Submission, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import InstrumentedAttribute

PAGE_SIZE = 20
_key = tuple_(Submission.published_at, Submission.id)  # the list's order, newest first


@dataclass
class Filters:
    category: str | None = None
    city: str = ""
    q: str = ""


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: InstrumentedAttribute[str | None], text: str) -> ColumnElement[bool]:
    return column.ilike(f"%{escape_like(text)}%", escape="\\")


def page(
    filters: Filters, after: str | None = None, size: int | None = None, now: datetime | None = None
) -> tuple[list[Submission], str | None]:
    """One page of live ads, newest first, and the cursor of the next page (None at the end)."""
    size = size or PAGE_SIZE
    query = (
        select(Submission)
        .join(Submission.public_copy)
        .where(Submission.is_live_ad(now or utcnow()))
        .options(contains_eager(Submission.public_copy), selectinload(Submission.attachments))
    )
    if filters.category:
        query = query.where(Submission.category == filters.category)
    if filters.city:
        query = query.where(_contains(PublicAd.city, filters.city))
    found = search.find(filters.q) if filters.q else None
    position = position_of(after)
    stretched = found if found and not found.few else None
    if found and not stretched:
        query = query.where(cast("ColumnElement[bool]", found.condition))
    rows, more = search.keyset_page(query, _key, position, size, stretched=stretched, newest_first=True)
    ads = [row[0] for row in rows]
    return ads, (cursor_of(ads[-1]) if more else None)


def cursor_of(ad: Submission) -> str:
    """The next page's cursor for readers: the time and the public id of the last ad shown, never its row id."""
    published_at = cast("datetime", ad.published_at)  # a live ad is published
    return f"{published_at.isoformat()}_{ad.public_id}"


def position_of(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, row id) a readers' cursor stands for. An ad gone meanwhile leaves its time: the page goes on
    from there."""
    stamp, _, public_id = (cursor or "").rpartition("_")
    try:
        moment = datetime.fromisoformat(stamp)
    except (ValueError, OverflowError):
        return None
    if not re.fullmatch(PUBLIC_ID_PATTERN, public_id):
        return None
    row_id = db.session.scalar(select(Submission.id).where(Submission.public_id == public_id))
    return moment, row_id or 0


def latest(size: int) -> list[Submission]:
    return page(Filters(), size=size)[0]


def cities(limit: int = 50) -> list[str]:
    """The cities of live ads, most common first: suggestions for the city filter."""
    query = (
        select(PublicAd.city)
        .join(PublicAd.submission)
        .where(Submission.is_live_ad(utcnow()), PublicAd.city.is_not(None))
        .group_by(PublicAd.city)
        .order_by(func.count().desc(), PublicAd.city)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def live(public_id: str) -> Submission | None:
    """A live ad, with its public copy."""
    query = (
        select(Submission)
        .join(Submission.public_copy)
        .where(Submission.public_id == public_id, Submission.is_live_ad(utcnow()))
        .options(contains_eager(Submission.public_copy))
    )
    return db.session.scalar(query)


def public_image(public_id: str) -> Attachment | None:
    """An image readers may load: a moderator made it public and its ad is live."""
    query = (
        select(Attachment)
        .join(Submission)
        .where(Attachment.public_id == public_id, Attachment.public.is_(True), Submission.is_live_ad(utcnow()))
    )
    return db.session.scalar(query)
