"""Each rule of the model is written once, with a form for a loaded row and one for a query (app/models.py): the two
must agree on every combination of the fields they read, or a page and a query would disagree about an item."""

import itertools
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Submission, User, utcnow
from tests.helpers import make_submission, make_user


def rows_of_every_kind(app) -> list[int]:
    now = utcnow()
    made = []
    combinations = itertools.product(
        ("ad", "information"),
        ("pending", "approved", "rejected", "withdrawn"),
        (None, now - timedelta(days=1)),  # closed / done
        (None, now - timedelta(hours=1), now + timedelta(days=1)),  # expires
        (None, "needs_changes", "spam"),
    )
    for kind, status, ended, expires, reason in combinations:
        row_id, _ = make_submission(app, kind, status=status, reject_reason=reason)
        made.append(row_id)
        with app.app_context():
            row = db.session.get(Submission, row_id)
            row.closed_at = ended if kind == "ad" else None
            row.done_at = ended if kind != "ad" else None
            row.expires_at = expires
            db.session.commit()
    return made


def agree(app, ids, python, sql) -> None:
    with app.app_context():
        rows = db.session.scalars(select(Submission).where(Submission.id.in_(ids))).all()
        by_python = {row.id for row in rows if python(row)}
        by_sql = set(db.session.scalars(select(Submission.id).where(Submission.id.in_(ids), sql)))
    assert by_python == by_sql
    assert by_python and by_python != set(ids)  # the rule sorts the rows: some in, some out


def test_a_live_ad_an_open_case_and_an_ad_its_owner_may_edit_mean_the_same_in_python_and_sql(app):
    ids = rows_of_every_kind(app)
    now = utcnow()
    agree(app, ids, lambda row: row.is_live_ad(now), Submission.is_live_ad(now))
    agree(app, ids, lambda row: row.is_open_case, Submission.is_open_case)
    agree(app, ids, lambda row: row.owner_may_edit, Submission.owner_may_edit)


def test_claimed_by_someone_else_means_the_same_in_python_and_sql(app):
    me, other = make_user(app), make_user(app, "ivan")
    now = utcnow()
    ids = []
    for holder, until in itertools.product(
        (None, me, other), (None, now - timedelta(minutes=1), now + timedelta(minutes=5))
    ):
        row_id, _ = make_submission(app)
        with app.app_context():
            row = db.session.get(Submission, row_id)
            row.claimed_by_id, row.claimed_until = holder, until
            db.session.commit()
        ids.append(row_id)
    with app.app_context():
        assert db.session.get(User, other)
    agree(app, ids, lambda row: row.claimed_by_other(me, now), Submission.claimed_by_other(me, now))
