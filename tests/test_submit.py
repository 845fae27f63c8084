"""The three public forms: success, field errors that keep what was typed, limits, honeypot."""

import re

import pytest
from sqlalchemy import select

from app.crypto import receipts as receipt_keys
from app.extensions import db
from app.models import Event, Submission
from app.submissions import sealed
from tests.helpers import count, errors_in, make_submission, make_user, receipt_from, sign_in, staff_opener, texts

VALID = {
    "information": {"telegram": "@Anna_K1", "title": "Parcels refused", "body": "Parcels were refused."},
    "contact": {"telegram": "t.me/helper_2", "purpose": "job", "body": "I can hire two people."},
    "ad": {
        "telegram": "https://t.me/seller_one",
        "title": "Room for rent",
        "category": "housing",
        "city": "Vilnius",
        "body": "A quiet room near the station.",
        "show_contact": "y",
    },
}


@pytest.mark.parametrize("kind", VALID)
def test_form_page_explains_who_sees_the_handle_and_the_limits(client, kind):
    page = client.get(f"/submit/{kind}").get_data(as_text=True)
    assert 'name="telegram"' in page
    assert "Nothing is published before a moderator has reviewed it." in page
    assert "moderators" in page
    assert "How to find or create a username in Telegram?" in page
    assert 'href="/help/telegram"' in page
    assert "Up to " in page and "characters" in page
    assert 'name="website"' in page  # the honeypot


def test_ad_form_says_the_handle_is_shown_only_with_consent(client):
    page = client.get("/submit/ad").get_data(as_text=True)
    assert "shown with the ad only if you agree" in page
    assert 'name="show_contact"' in page


@pytest.mark.parametrize("kind", VALID)
def test_valid_form_stores_one_pending_item_and_shows_a_receipt(app, client, kind):
    response = client.post(f"/submit/{kind}", data=VALID[kind])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    code = receipt_from(html)
    assert code is not None and len(code.replace(" ", "")) == 16
    assert "shown only once" in html
    assert texts(app, 1).telegram == VALID[kind]["telegram"].rsplit("/", 1)[-1].lstrip("@")
    with app.app_context():
        submission = db.session.scalars(select(Submission)).one()
        assert submission.kind == kind and submission.status == "pending"
        # What was typed is sealed: no clear column holds it, and the receipt opens it as the moderators do.
        handle = VALID[kind]["telegram"].rsplit("/", 1)[-1].lstrip("@")
        assert (submission.telegram, submission.title, submission.body, submission.city) == (None,) * 4
        assert handle.encode() not in submission.sealed
        by_receipt = sealed.Opener.for_receipt(receipt_keys.derive(code.replace(" ", "")).key).texts(submission)
        assert by_receipt.telegram == handle and by_receipt.body == VALID[kind]["body"]
        assert submission.locale == "en"
        event = db.session.scalars(select(Event)).one()
        assert (event.action, event.submission_id, event.actor_id) == ("submitted", submission.id, None)
        # Only a digest of the receipt is kept: the code appears in no column.
        values = [str(getattr(submission, c.key)) for c in Submission.__table__.columns]
        assert not any(code.replace(" ", "") in v or code in v for v in values)


def test_ad_fields_are_stored(app, client):
    client.post("/submit/ad", data=VALID["ad"])
    make_user(app)
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        assert (ad.category, ad.show_contact) == ("housing", True)
        words = staff_opener().texts(ad)
        assert (words.title, words.city) == ("Room for rent", "Vilnius")


def test_each_receipt_is_different(app, client):
    first = receipt_from(client.post("/submit/information", data=VALID["information"]).get_data(as_text=True))
    other = VALID["information"] | {"body": "Another text."}
    second = receipt_from(client.post("/submit/information", data=other).get_data(as_text=True))
    assert first and second and first != second


def test_the_same_text_from_the_same_handle_within_an_hour_is_stored_once(app, client):
    from datetime import timedelta

    from app.models import utcnow

    data = VALID["ad"]
    assert receipt_from(client.post("/submit/ad", data=data).get_data(as_text=True))
    # The same again, with other spacing, case and handle spelling: not a second item.
    again = data | {"telegram": "@SELLER_ONE", "body": "  a quiet ROOM near   the station. "}
    response = client.post("/submit/ad", data=again)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "We already have this" in html and receipt_from(html) is None
    assert count(app, Submission) == 1
    # Another kind, another handle or another text is a new item.
    assert receipt_from(client.post("/submit/ad", data=data | {"telegram": "other_seller"}).get_data(as_text=True))
    assert receipt_from(client.post("/submit/ad", data=data | {"body": "A different room."}).get_data(as_text=True))
    assert receipt_from(
        client.post("/submit/information", data={"telegram": "seller_one", "body": data["body"]}).get_data(as_text=True)
    )
    # After an hour the same text is accepted again.
    with app.app_context():
        for submission in db.session.scalars(select(Submission)):
            submission.created_at = utcnow() - timedelta(minutes=61)
        db.session.commit()
    assert receipt_from(client.post("/submit/ad", data=data).get_data(as_text=True))
    assert count(app, Submission) == 5


def test_contact_form_preselects_the_job_offer(client):
    page = client.get("/submit/contact?purpose=job").get_data(as_text=True)
    assert '<option selected value="job">' in page
    plain = client.get("/submit/contact").get_data(as_text=True)
    assert '<option selected value="job">' not in plain
    odd = client.get("/submit/contact?purpose=<script>").get_data(as_text=True)
    assert "<script>" not in odd.split("</head>")[1]


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("information", {"body": ""}, "Please write what you want to tell us."),
        ("information", {"body": "   \n  "}, "Please write what you want to tell us."),
        ("information", {"title": "x" * 121}, "Please shorten this to 120 characters (now 121)."),
        ("information", {"body": "x" * 5001}, "Please shorten this to 5000 characters (now 5001)."),
        ("contact", {"purpose": ""}, "Choose how you can help."),
        ("contact", {"purpose": "weapons"}, "Choose how you can help."),
        ("ad", {"title": ""}, "An ad needs a title."),
        ("ad", {"category": "cars"}, "Choose a category for the ad."),
        ("ad", {"city": "c" * 61}, "Please shorten this to 60 characters (now 61)."),
        ("ad", {"body": "b" * 2001}, "Please shorten this to 2000 characters (now 2001)."),
        ("ad", {"telegram": ""}, "Enter your Telegram username."),
        ("ad", {"telegram": "+375 29 123 45 67"}, "This looks like a phone number."),
        ("contact", {"telegram": "анна_к"}, "Use Latin letters (a-z) only."),
        ("information", {"telegram": "ann"}, "Too short: a username has at least 5 characters."),
        ("information", {"telegram": "https://vk.com/anna"}, "This is a link to another site."),
        ("information", {"website": "http://spam.example"}, "This field must stay empty."),
    ],
)
def test_bad_input_gets_a_field_error_and_keeps_every_value(app, client, kind, change, message):
    data = VALID[kind] | change
    response = client.post(f"/submit/{kind}", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert any(e.startswith(message) for e in errors_in(html)), errors_in(html)
    assert 'role="alert"' in html  # the summary is announced
    for name, value in data.items():
        if name in ("show_contact", "website") or not value:
            continue
        if name in ("purpose", "category"):
            valid = value in Submission.PURPOSES + Submission.CATEGORIES
            assert (f'<option selected value="{value}">' in html) == valid, name
            continue
        assert value.strip().replace("<", "&lt;") in html, name
    if data.get("show_contact"):
        assert re.search(r'<input[^>]*\bchecked\b[^>]*name="show_contact"', html)
    assert count(app, Submission) == 0


AD_FIELDS = {"title": "Room", "category": "housing", "city": "Vilnius", "body": "A room near the station."}
AD_MISTAKES = [
    ({"title": ""}, "An ad needs a title."),
    ({"category": "cars"}, "Choose a category for the ad."),
    ({"city": "c" * 61}, "Please shorten this to 60 characters (now 61)."),
    ({"body": " "}, "An ad needs a text."),
]


def ad_forms(app, client) -> dict:
    """Where an ad's fields are filled, each as (its page, a function posting the fields with a change): the
    form that sends an ad, its owner's edit at /status and a moderator's edit."""
    _mine, code = make_submission(app, "ad", status="rejected", reject_reason="needs_changes")
    queued, _code = make_submission(app, "ad")
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "olga", "moderator"))
    return {
        "sent": (
            client.get("/submit/ad"),
            lambda change: client.post("/submit/ad", data=VALID["ad"] | AD_FIELDS | change),
        ),
        "owner": (
            client.post("/status", data={"code": code}),
            lambda change: client.post("/status/edit", data={"code": code} | AD_FIELDS | change),
        ),
        "moderator": (
            staff.get(f"/moderation/{queued}"),
            lambda change: staff.post(f"/moderation/{queued}/edit", data={"version": 1} | AD_FIELDS | change),
        ),
    }


def test_an_ads_fields_read_the_same_to_its_sender_its_owner_and_a_moderator(app, client):
    labels = {}
    for place, (page, post) in ad_forms(app, client).items():
        html = page.get_data(as_text=True)
        labels[place] = re.findall(r'<label for="(title|category|city|body)">([^<]*)</label>', html)
        for change, message in AD_MISTAKES:
            answer = post(change)
            assert answer.status_code == 422, (place, change)
            assert message in errors_in(answer.get_data(as_text=True)), (place, change)
    assert labels["sent"] == [
        ("title", "Title"),
        ("category", "Category"),
        ("city", "City or region (optional)"),
        ("body", "Text of the ad"),
    ]
    assert labels["owner"] == labels["moderator"] == labels["sent"]


def test_error_message_links_to_the_telegram_help(client):
    html = client.post("/submit/information", data=VALID["information"] | {"telegram": "x"}).get_data(as_text=True)
    assert 'href="/help/telegram"' in html


def test_typed_text_is_cleaned_of_control_characters(app, client):
    data = VALID["information"] | {"body": "line one\r\nline\x00 two\x07", "title": "  padded  "}
    client.post("/submit/information", data=data)
    item = texts(app, 1)
    assert (item.body, item.title) == ("line one\nline two", "padded")


def test_html_in_fields_is_escaped_on_the_re_rendered_form(client):
    data = VALID["ad"] | {"title": "<script>alert(1)</script>", "category": ""}
    html = client.post("/submit/ad", data=data).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_too_large_request_gets_a_friendly_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/submit/information", data=VALID["information"] | {"body": "x" * 4000})
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "The form was too large to send" in html
    assert count(app, Submission) == 0


def test_help_page_explains_step_by_step(client):
    html = client.get("/help/telegram").get_data(as_text=True)
    assert "How to find or create a username in Telegram?" in html
    assert html.count("<li>") >= 8


def test_home_has_the_four_entry_buttons(client):
    html = client.get("/").get_data(as_text=True)
    for text, href in [
        ("Add information", "/submit/information"),
        ("Leave a contact", "/submit/contact"),
        ("Offer a job", "/submit/contact?purpose=job"),
        ("Add an ad", "/submit/ad"),
    ]:
        assert f'href="{href}"' in html and text in html
