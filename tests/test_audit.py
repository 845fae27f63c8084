"""What submitters and readers do is kept at day precision, and the security log has no line for it: the journal's
precise time would place the person long after the item is gone (issue 13, item 3; issue 22, item 6)."""

import json
import logging
import re
from datetime import date, datetime

from sqlalchemy import delete, select

from app.extensions import db
from app.models import Event, utcnow
from tests.helpers import make_submission, make_user, receipt_from, sign_in
from tests.test_ads import publish


def security_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "prystan.security"]


def test_a_submitters_own_events_keep_the_day_alone(app, client, caplog):
    caplog.set_level(logging.INFO, logger="prystan.security")
    code = receipt_from(
        client.post("/submit/information", data={"telegram": "day_only", "body": "A tip."}).get_data(as_text=True)
    )
    client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    with app.app_context():
        events = db.session.scalars(select(Event).order_by(Event.id)).all()
        assert [e.action for e in events] == ["submitted", "withdrawn"]
        midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        assert {e.created_at for e in events} == {midnight}
    assert [line for line in security_lines(caplog) if line["event"] == "audit"] == []


def test_staff_decisions_keep_their_time_and_item(app, client, caplog):
    caplog.set_level(logging.INFO, logger="prystan.security")
    ad_id, _code = publish(app, make_user(app, "mira", "moderator"), title="A bicycle")
    with app.app_context():
        approved = db.session.scalars(select(Event).where(Event.action == "approved")).one()
        assert abs((utcnow() - approved.created_at).total_seconds()) < 5  # to the moment, not the day
    assert any(
        line["action"] == "approved" and line["item"] == ad_id
        for line in security_lines(caplog)
        if line["event"] == "audit"
    )


def test_the_history_shows_a_day_for_the_submitters_events(app, client):
    client.post("/submit/information", data={"telegram": "day_only", "body": "A tip."})
    staff = app.test_client()
    sign_in(staff, app, make_user(app))
    html = staff.get("/moderation/1").get_data(as_text=True)
    day = utcnow().date().isoformat()
    assert re.search(rf'<time datetime="{day}">[^<]+</time>\s*the sender sent it', html), html


def test_the_log_is_read_newest_first_a_page_at_a_time_with_filters(app):
    from app import audit

    olga, anna = make_user(app, "olga"), make_user(app, "anna")
    item, _code = make_submission(app)
    with app.app_context():
        db.session.execute(delete(Event))  # (the item's own "submitted", of today)
        written = [
            audit.record("signed_in", None, actor_id=olga),
            audit.record("signed_in", None, actor_id=anna),
            audit.record("approved", item, actor_id=olga),
            audit.record("user_created", None, actor_id=anna),
        ]
        for day, event in enumerate(written, start=1):
            event.created_at = datetime(2026, 3, day, 23, 59)
        db.session.commit()
        ids = [e.id for e in reversed(written)]

        def found(**filters):
            events, more = audit.page(audit.Filters(**filters))
            assert more is None
            return [e.id for e in events]

        assert found() == ids
        first, more = audit.page(audit.Filters(), size=3)
        assert [e.id for e in first] == ids[:3] and more == ids[2]
        assert audit.page(audit.Filters(), before=more, size=3) == ([written[0]], None)
        assert found(action="signed_in") == ids[2:]
        assert found(actor="anna") == [ids[0], ids[2]]
        assert found(actor="nobody") == []
        assert found(submission_id=item) == [ids[1]]
        assert found(since=date(2026, 3, 2), until=date(2026, 3, 3)) == ids[1:3]
