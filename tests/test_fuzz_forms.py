"""Arbitrary input to every public form: never a 500, never a stored item unless the input was valid."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import telegram
from app.extensions import db
from app.models import Submission
from tests.helpers import count, receipt_from, texts

FIELDS = {
    "information": ["telegram", "title", "body", "website"],
    "contact": ["telegram", "purpose", "body", "website"],
    "ad": ["telegram", "title", "category", "city", "body", "show_contact", "website"],
}

any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
value = st.one_of(
    any_text,
    st.sampled_from(["", " ", "\x00", "anna_k", "@Valid_Name", "t.me/some_person", "job", "housing", "y", "on"]),
    st.sampled_from(Submission.PURPOSES + Submission.CATEGORIES),
    st.text(alphabet="\x00\x01\u202e\ufeffаб<>&\"'", max_size=50),
    st.integers(min_value=100, max_value=7000).map(lambda n: "é" * n),
)
# A list of (name, value) pairs: fields may be missing, repeated or unknown.
form_items = st.lists(
    st.tuples(st.sampled_from([*sorted({f for fs in FIELDS.values() for f in fs}), "csrf_token", "x\x00"]), value),
    max_size=14,
)


def stored_item_is_valid(item: Submission, words) -> bool:
    """The item's clear columns and its words (sealed at rest, as a moderator opens them)."""
    limit = Submission.AD_BODY_MAX if item.kind == "ad" else Submission.BODY_MAX
    checks = [
        (item.telegram, item.title, item.body, item.city) == (None, None, None, None),
        telegram.is_valid(words.telegram),
        0 < len(words.body) <= limit and "\x00" not in words.body,
        words.title is None or len(words.title) <= Submission.TITLE_MAX,
        item.kind != "ad" or (item.category in Submission.CATEGORIES and bool(words.title)),
        item.kind != "contact" or item.purpose in Submission.PURPOSES,
        words.city is None or len(words.city) <= Submission.CITY_MAX,
        item.status == "pending",
    ]
    return all(checks)


VALID_FOR_EVERY_FORM = [
    ("telegram", "anna_k"),
    ("body", "x"),
    ("title", "t"),
    ("category", "goods"),
    ("purpose", "job"),
]


@pytest.mark.parametrize("kind", FIELDS)
@given(items=form_items)
@example(items=VALID_FOR_EVERY_FORM)
def test_any_form_input_is_answered_without_a_server_error(app, client, kind, items):
    before = count(app, Submission)
    response = client.post(f"/submit/{kind}", data=MultiDict(items))
    assert response.status_code in (200, 413, 422), response.status_code
    after = count(app, Submission)
    if response.status_code == 200 and "We already have this" in response.get_data(as_text=True):
        assert after == before  # the same handle and text again (a repeated example): stored once
    elif response.status_code == 200:
        assert after == before + 1
        assert receipt_from(response.get_data(as_text=True))
        with app.app_context():
            item = db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()
            db.session.expunge(item)
        assert item.kind == kind and stored_item_is_valid(item, texts(app, item.id))
    else:
        assert after == before


@given(items=st.lists(st.tuples(st.sampled_from(["code", "confirm", "other"]), value), max_size=6))
def test_any_status_or_withdraw_input_is_answered_without_a_server_error(app, client, items):
    for url in ("/status", "/status/withdraw"):
        response = client.post(url, data=MultiDict(items))
        assert response.status_code in (200, 422), (url, response.status_code)
