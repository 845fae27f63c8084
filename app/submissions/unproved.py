"""What is sent on the onion without a solved puzzle (issue 29): Tor Browser at "Safest" runs no JavaScript, so it
cannot solve the proof of work, and on the onion every visitor has one address, so no per-address limit can stand
in for it. Such forms and reports are taken, but they wait apart, in the queue's tab "sent without the puzzle":

- a form is a pending item with ``unproved`` set, shown in that tab only, until a moderator decides (a decision
  clears the flag: decisions.py);
- a report is kept with ``unproved`` set and counts toward an ad's REPORT_THRESHOLD only once a moderator counts it.

Past NOJS_QUARANTINE_MAX pending items (or as many reports), sends without the puzzle are refused before anything
is opened (app/proof.py); a form without the puzzle that comes back for its fields, or for a file that fails its
checks, opens no file either, and the files that do reach the sandbox this way are limited for the whole onion
(NOJS_ONION_SCRUB_RATELIMIT, app/limits.py). A flood fills one tab and stops: it never reaches the queue or the
ads. Staff empty the tab by rejecting its oldest items in bulk (an undo returns them here, not to the queue), and
dismissing its reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import contains_eager

from app.extensions import db
from app.models import Report, Submission, utcnow
from app.submissions import reports

if TYPE_CHECKING:
    from sqlalchemy import CursorResult, Select


_PENDING = (Submission.unproved.is_(True), Submission.status == "pending")


def _held() -> Select[Report]:
    """The reports nobody counted or dismissed, of ads still on the site (a report of an ad gone since goes with
    the ad's row)."""
    return select(Report).join(Report.submission).where(Report.unproved.is_(True), Submission.is_live_ad(utcnow()))


def waiting(*, reports: bool = False) -> int:
    """How many pending items the tab holds; or, with ``reports``, how many reports."""
    if reports:
        query = select(func.count()).select_from(_held().subquery())
    else:
        query = select(func.count()).select_from(Submission).where(*_PENDING)
    return cast("int", db.session.scalar(query))


def full(most: int, *, reports: bool = False) -> bool:
    """No more forms without the puzzle are taken while the tab holds more than ``most`` pending items; no more
    reports while it holds more than ``most`` reports (each fills its own part: a flood of reports does not stop a
    form). Counted before the send is taken, not under a lock: as many sends as arrive at that moment may pass."""
    return waiting(reports=reports) > most


def oldest(most: int) -> list[tuple[int, int]]:
    """The tab's pending items, oldest first, at most ``most``: (id, version), as a bulk action takes them."""
    query = (
        select(Submission.id, Submission.version)
        .where(*_PENDING)
        .order_by(Submission.created_at, Submission.id)
        .limit(most)
    )
    return [(row.id, row.version) for row in db.session.execute(query)]


def held_reports() -> list[Report]:
    """The reports waiting in the tab, oldest first, each with its ad."""
    query = _held().options(contains_eager(Report.submission)).order_by(Report.created_at, Report.id)
    return list(db.session.scalars(query))


def count(report_id: int, threshold: int) -> bool | None:
    """A moderator counts a held report: it now counts toward its ad's threshold, which may send the ad back to
    the queue (returns True then, False if it stays). None: no such report waits (counted or dismissed meanwhile,
    or its ad left the site)."""
    report = db.session.get(Report, report_id)
    if report is None or not report.unproved or not report.submission.is_live_ad(utcnow()):
        return None
    report.unproved = False
    db.session.flush()
    returned = reports.settle(report.submission, threshold)
    db.session.commit()
    return returned


def dismiss(report_ids: list[int] | None = None) -> int:
    """Delete held reports: these, or every one in the tab. Returns how many went."""
    statement = delete(Report).where(Report.unproved.is_(True))
    if report_ids is not None:
        statement = statement.where(Report.id.in_(report_ids))
    gone = cast("CursorResult[Any]", db.session.execute(statement.execution_options(synchronize_session=False)))
    db.session.commit()
    return gone.rowcount
