"""A published ad's clear public copy (AT-REST.md): the one place an ad's words rest in clear, and only while
readers may see them. Written at approval (by the moderator, who has opened the sealed fields) and at a renewal
after expiry (by the owner, with the receipt key); erased when the ad is closed, returned to the queue, undone,
edited by its owner, withdrawn, deleted or purged, and by `flask purge` once it has expired. The readers' pages
and the full-text index read the copies alone, so they do no cryptography. The caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, select

from app.extensions import db
from app.models import PublicAd, Submission

if TYPE_CHECKING:
    from app.submissions.sealed import Texts


def write(submission_id: int, texts: Texts, *, show_contact: bool) -> None:
    """Make (or make again) an ad's public copy: its title, text and city, and the handle only if its owner chose
    to show it."""
    erase(submission_id)
    db.session.add(
        PublicAd(
            submission_id=submission_id,
            title=texts.title or "",
            body=texts.body,
            city=texts.city or None,
            telegram=texts.telegram if show_contact else None,
        )
    )


def erase(submission_id: int) -> None:
    db.session.execute(delete(PublicAd).where(PublicAd.submission_id == submission_id))


def erase_expired(now: datetime) -> int:
    """The copies of ads no longer live (expired or closed): `flask purge` runs it."""
    live = select(Submission.id).where(Submission.is_live_ad(now))
    result = db.session.execute(delete(PublicAd).where(PublicAd.submission_id.not_in(live)))
    return int(cast("Any", result).rowcount)
