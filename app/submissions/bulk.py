"""Bulk work on the queue (issue 28): take on many items of information and contacts, or reject many with a
reason, at once. Each row is checked against the version its moderator saw: one someone else changed meanwhile is
reported, never overwritten. Ads are still approved one at a time, from their page: nothing is published before a
moderator has read it. The whole batch has one undo, within the undo window (decisions.UNDO_SECONDS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app import labels
from app.extensions import db
from app.models import Submission, User, utcnow
from app.submissions import decisions

ACTIONS = ("take_on", "reject")
MOST = 100  # items one batch may hold (a page of the queue holds 25)


class TooMany(decisions.NotAllowed):
    """More items than one batch may hold."""


@dataclass
class Batch:
    action: str
    done: list[tuple[int, int]] = field(default_factory=list)  # (id, version after): what the undo takes back
    changed: list[int] = field(default_factory=list)  # someone else acted on it first: left as they made it
    refused: list[int] = field(default_factory=list)  # not for this action (an ad to take on, an ads-only reason)


def apply(items: list[tuple[int, int]], user: User, action: str, reason: str | None = None) -> Batch:
    """Run ``action`` on each (id, version seen) item, each in its own transaction."""
    if action not in ACTIONS or (action == "reject" and reason not in labels.REJECT_REASONS):
        raise decisions.NotAllowed("no such bulk action")
    if len(items) > MOST:
        raise TooMany
    batch = Batch(action)
    now = utcnow()  # one decision time for the whole batch: its undo window is one window
    for submission_id, version in items:
        current = db.session.get(Submission, submission_id)
        if current is None:
            batch.changed.append(submission_id)  # (withdrawn or deleted meanwhile)
            continue
        try:
            if action == "take_on":
                if current.kind == "ad":
                    raise decisions.NotAllowed("ads are approved one at a time, from their page")
                result = decisions.approve(submission_id, version, user, now=now)
            else:
                result = decisions.reject(submission_id, version, user, str(reason), now=now)
        except decisions.Conflict:
            batch.changed.append(submission_id)
        except decisions.NotAllowed:
            batch.refused.append(submission_id)
        else:
            batch.done.append((submission_id, result.submission.version))
    return batch


def undo(done: list[tuple[int, int]], user: User) -> tuple[int, list[int]]:
    """Take the batch back: (how many returned to the queue, the ids that could not be: past the window, or
    changed since)."""
    undone, left = 0, []
    for submission_id, version in done:
        try:
            decisions.undo(submission_id, version, user)
            undone += 1
        except (decisions.Conflict, decisions.NotAllowed):
            left.append(submission_id)
    return undone, left
