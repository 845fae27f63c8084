"""Sealed on arrival (issue 25, AT-REST.md): what the three forms, /status and staff write is sealed with public
keys; a moderator's unlocked session reads it as before, a receipt opens its own item and nothing staff-only, a
moderator who does not hold an item's period sees "locked" and can still do what needs no text; published ads are
read from a clear public copy that leaves with the ad; the queue searches by opening what it walks."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app import receipts, staff
from app.crypto import receipts as receipt_keys
from app.extensions import db
from app.models import Attachment, Message, Note, PublicAd, Report, Submission, User, utcnow
from app.submissions import queue as staff_queue
from app.submissions import sealed
from tests.files import jpeg
from tests.helpers import PASSWORD, approve, hx, make_submission, receipt_from, sign_in, staff_opener

FORMS = {
    "information": {"telegram": "@sealed_info", "title": "Quartzite parcel", "body": "Zirconium visits refused."},
    "contact": {"telegram": "sealed_helper", "purpose": "job", "body": "Obsidian workshop hires two."},
    "ad": {
        "telegram": "sealed_seller",
        "title": "Basalt room",
        "category": "housing",
        "city": "Pinsk",
        "body": "Feldspar quiet room.",
        "show_contact": "y",
    },
}


def receipt_opener(code: str) -> sealed.Opener:
    return sealed.Opener.for_receipt(receipt_keys.derive(receipts.parse(code)).key)


@pytest.fixture
def readers(app):
    """olga, a moderator whose key holds every period so far (made before anything arrives)."""
    with app.app_context():
        return staff.create("olga", "moderator", PASSWORD).id


@pytest.mark.parametrize("kind", FORMS)
def test_every_word_a_form_takes_is_sealed_and_opens_for_staff_and_for_the_receipt(app, client, readers, kind):
    data = dict(FORMS[kind], attachments=[(io.BytesIO(jpeg()), "street-photo.jpg")])
    response = client.post(f"/submit/{kind}", data=data, content_type="multipart/form-data")
    code = receipt_from(response.get_data(as_text=True))
    assert code
    with app.app_context():
        submission = db.session.scalars(select(Submission)).one()
        # Nothing the sender wrote is in a clear column.
        assert (submission.telegram, submission.title, submission.body, submission.city) == (None, None, None, None)
        assert submission.sealed and submission.public_key and submission.key_for_queue and submission.key_for_receipt
        attachment = db.session.scalars(select(Attachment)).one()
        assert (attachment.original_name, attachment.sha256) == (None, None) and attachment.sealed
        for opener in (staff_opener(), receipt_opener(code)):
            words = opener.texts(submission)
            assert words.body == FORMS[kind]["body"]
            assert words.telegram == FORMS[kind]["telegram"].lstrip("@")
            assert words.title == FORMS[kind].get("title") and words.city == FORMS[kind].get("city")
            name, digest = opener.attachment(attachment)
            assert name == "street-photo.jpg" and len(digest) == 64
        # Another receipt opens nothing of it.
        other = receipts.new_code()
        assert receipt_opener(other).texts(submission) is None


def test_notes_and_readers_report_notes_are_for_staff_only_a_receipt_opens_neither(app, client, readers):
    ad_id, code = make_submission(app, "ad", status="approved")
    with app.app_context():
        now = utcnow()
        submission = db.session.get(Submission, ad_id)
        submission.published_at, submission.expires_at = now, now + timedelta(days=30)
        db.session.commit()
    from app.submissions import cases, reports, threads

    with app.app_context():
        olga = db.session.get(User, readers)
        cases.add_note(ad_id, olga, "Magnetite internal remark.")
        threads.write(ad_id, olga, "Hematite question for the owner.")
        reports.report(ad_id, "scam", "Pyrite report note.", threshold=99)
        note = db.session.scalars(select(Note)).one()
        report = db.session.scalars(select(Report)).one()
        message = db.session.scalars(select(Message)).one()
        assert (note.body, report.note, message.body) == (None, "", None)
        moderator, holder = staff_opener(), receipt_opener(code)
        assert moderator.note(note) == "Magnetite internal remark."
        assert moderator.report_note(report) == "Pyrite report note."
        assert moderator.message(message) == holder.message(message) == "Hematite question for the owner."
        assert holder.note(note) is None and holder.report_note(report) is None


def newcomer(app, client, role="moderator") -> int:
    """ivan, who arrives after the item: his key holds only the periods from his arrival on; signed in."""
    with app.app_context():
        ivan = staff.create("ivan", role, PASSWORD).id
    sign_in(client, app, ivan)
    return ivan


def test_a_moderator_without_the_items_period_sees_locked_and_still_takes_it_on_and_notes(app, client, readers):
    info_id, _ = make_submission(app, "information", body="Tourmaline secret words.", telegram="hidden_handle")
    other, _ = make_submission(app, "contact", body="Spinel words.")
    newcomer(app, client)
    page = client.get(f"/moderation/{info_id}").get_data(as_text=True)
    assert "Tourmaline" not in page and "hidden_handle" not in page
    assert "locked" in page and "Your key does not open this item" in page
    queue = client.get("/moderation").get_data(as_text=True)
    assert "Tourmaline" not in queue and "locked" in queue
    # Notes, messages and taking it on need no text.
    with app.app_context():
        version = db.session.get(Submission, info_id).version
    assert client.post(f"/moderation/{info_id}/note", data={"internal_note": "Seen."}).status_code == 303
    assert client.post(f"/moderation/{info_id}/message", data={"message": "A question."}).status_code == 303
    assert client.post(f"/moderation/{info_id}/approve", data={"version": version}).status_code == 303
    with app.app_context():
        assert db.session.get(Submission, info_id).status == "approved"
        version = db.session.get(Submission, info_id).version
    assert (
        client.post(f"/moderation/{info_id}/assign", data={"version": version, "assignee": readers}).status_code == 303
    )
    with app.app_context():
        other_version = db.session.get(Submission, other).version
    rejected = client.post(
        f"/moderation/{other}/reject", data={"version": other_version, "reason": "other", "note": "No."}
    )
    assert rejected.status_code == 303
    with app.app_context():
        assert db.session.get(Submission, info_id).assigned_to_id == readers
        assert staff_opener("olga").reject_note(db.session.get(Submission, other)) == "No."
        # olga, who holds the period, reads what ivan wrote.
        note = db.session.scalars(select(Note)).one()
        assert staff_opener("olga").note(note) == "Seen."


def test_approving_or_editing_a_locked_ad_is_refused_with_a_message_never_a_500(app, client, readers):
    ad_id, _ = make_submission(app, "ad", title="Garnet flat", body="Garnet text.")
    newcomer(app, client)
    with app.app_context():
        version = db.session.get(Submission, ad_id).version
    for url, data in (
        (f"/moderation/{ad_id}/approve", {"version": version}),
        (
            f"/moderation/{ad_id}/edit",
            {"version": version, "title": "New", "category": "housing", "city": "", "body": "New text."},
        ),
    ):
        for headers in ({}, hx("panel")):
            response = client.post(url, data=data, headers=headers)
            assert response.status_code == 422, (url, response.status_code)
            assert "This item is locked to you" in response.get_data(as_text=True)
    with app.app_context():
        submission = db.session.get(Submission, ad_id)
        assert submission.status == "pending" and submission.version == version
        assert db.session.scalar(select(PublicAd.submission_id)) is None
        assert staff_opener("olga").texts(submission).title == "Garnet flat"


def test_editors_still_get_403_on_every_moderation_url(app, client, readers):
    ad_id, _ = make_submission(app, "ad")
    newcomer(app, client, role="editor")
    for url in ("/moderation", f"/moderation/{ad_id}"):
        assert client.get(url).status_code == 403
    assert client.post(f"/moderation/{ad_id}/approve", data={"version": 1}).status_code == 403


# Published ads: a clear public copy, only while the ad is live


def live_ad(app, client, moderator_id, **fields) -> tuple[int, str]:
    ad_id, code = make_submission(app, "ad", **fields)
    with app.app_context():
        submission = db.session.get(Submission, ad_id)
        approve(ad_id, submission.version, db.session.get(User, moderator_id))
    return ad_id, code


def copy_of(app, ad_id) -> PublicAd | None:
    with app.app_context():
        found = db.session.get(PublicAd, ad_id)
        if found is not None:
            db.session.expunge(found)
        return found


def test_approval_writes_the_public_copy_with_the_handle_only_if_its_owner_agreed(app, client, readers):
    shown, _ = live_ad(app, client, readers, title="Onyx desk", telegram="shown_owner", show_contact=True)
    hidden, _ = live_ad(app, client, readers, title="Jasper chair", telegram="hidden_owner", show_contact=False)
    assert copy_of(app, shown).telegram == "shown_owner" and copy_of(app, shown).title == "Onyx desk"
    assert copy_of(app, hidden).telegram is None
    page = client.get("/ads").get_data(as_text=True)
    assert "Onyx desk" in page and "Jasper chair" in page
    assert "hidden_owner" not in client.get(f"/ads/{public_of(app, hidden)}").get_data(as_text=True)
    assert "Onyx" in client.get("/ads?q=onyx").get_data(as_text=True)


def public_of(app, ad_id) -> str:
    with app.app_context():
        return db.session.get(Submission, ad_id).public_id


def test_closing_undo_and_a_return_to_the_queue_erase_the_copy_and_its_words_from_the_index(app, client, readers):
    from app.submissions import decisions, owner, reports

    closed, _ = live_ad(app, client, readers, title="Agate lamp")
    undone, _ = live_ad(app, client, readers, title="Beryl table")
    returned, _ = live_ad(app, client, readers, title="Coral bed")
    with app.app_context():
        assert owner.close(db.session.get(Submission, closed))
        olga = db.session.get(User, readers)
        decisions.undo(undone, db.session.get(Submission, undone).version, olga)
        for _ in range(2):
            reports.report(returned, "spam", "", threshold=2)
    for ad_id, title in ((closed, "Agate lamp"), (undone, "Beryl table"), (returned, "Coral bed")):
        word = title.split()[0].lower()
        assert copy_of(app, ad_id) is None
        assert title not in client.get(f"/ads?q={word}").get_data(as_text=True)
        assert indexed(app, word) == 0


def test_a_withdrawn_or_purged_ad_takes_its_copy_and_purge_erases_expired_copies(app, client, readers):
    from app.submissions import owner
    from app.submissions.retention import purge
    from app.uploads.stores import app_storage

    withdrawn, _ = live_ad(app, client, readers, title="Amber shelf")
    expired, code = live_ad(app, client, readers, title="Jade vase")
    with app.app_context():
        owner.withdraw(db.session.get(Submission, withdrawn), app_storage())
        ad = db.session.get(Submission, expired)
        ad.expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
        result = purge(
            app_storage(),
            retention_days=30,
            ad_retention_days=30,
            case_retention_days=30,
            event_retention_days=30,
            pending_max_days=30,
            case_idle_days=60,
        )
        assert result.copies == 1
    assert copy_of(app, withdrawn) is None and copy_of(app, expired) is None
    # Its owner renews it: the copy is written again from the sealed fields, with the receipt.
    response = client.post("/status/renew", data={"code": code})
    assert response.status_code == 200
    assert copy_of(app, expired).title == "Jade vase"
    assert "Jade vase" in client.get("/ads").get_data(as_text=True)


def test_pending_and_rejected_words_are_in_no_index(app, readers):
    make_submission(app, "ad", title="Lapis pending", body="Lapis words.")
    make_submission(app, "ad", title="Opal rejected", body="Opal words.", status="rejected")
    assert indexed(app, "lapis") == indexed(app, "opal") == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PublicAd)) == 0


def indexed(app, word: str) -> int:
    """Rows of the full-text index that hold a word (SQLite's FTS5 table, PostgreSQL's stored vectors)."""
    with app.app_context():
        if db.session.get_bind().dialect.name == "sqlite":
            query = "SELECT count(*) FROM public_ads_fts WHERE public_ads_fts MATCH :word"
        else:
            query = "SELECT count(*) FROM public_ads WHERE search_vector @@ to_tsquery('simple', :word)"
        return db.session.execute(text(query), {"word": word}).scalar()


# The queue's search opens what it walks


def search(app, q, after=None, **filters) -> staff_queue.Page:
    with app.app_context():
        return staff_queue.page(staff_queue.Filters(q=q, **filters), staff_opener(), after)


def test_the_queue_search_opens_rows_matches_words_and_never_the_handle(app, readers):
    first, _ = make_submission(app, body="Malachite in the parcel.", telegram="malachite_fan")
    make_submission(app, body="Nothing here.", telegram="malachite_two")
    ad, _ = make_submission(app, "ad", title="Chalcedony", city="Malachite city", body="Room.")
    found = search(app, "malachite")
    assert [row.submission.id for row in found.rows] == [first, ad]
    assert search(app, "malachite_fan").rows == [] and search(app, "malachite_two").rows == []
    assert [r.submission.id for r in search(app, "malach parcel").rows] == [first]  # word starts, every word
    assert [r.submission.id for r in search(app, "chalcedony", kind="ad").rows] == [ad]
    assert search(app, "chalcedony", kind="information").rows == []


def test_a_search_stops_after_its_window_says_how_far_it_went_and_searches_further(app, client, readers, monkeypatch):
    monkeypatch.setattr(staff_queue, "SEARCH_ROWS", 3)
    ids = [make_submission(app, body=f"Item {n} {'rhodonite' if n in (1, 4) else 'plain'}.")[0] for n in range(6)]
    page = search(app, "rhodonite")
    assert [r.submission.id for r in page.rows] == [ids[1]] and page.searched == 3 and page.searched_to
    further = search(app, "rhodonite", after=page.cursor)
    assert [r.submission.id for r in further.rows] == [ids[4]]
    sign_in(client, app, readers)
    html = client.get("/moderation?q=rhodonite").get_data(as_text=True)
    assert "Searched the items sent up to" in html and "Search further" in html
    assert "Item 1 rhodonite" in html and "Item 4" not in html


def test_a_duplicate_is_refused_within_the_window_and_its_digest_erased_after_it(app):
    from app.submissions.create import dedupe_digest, forget_duplicates, is_duplicate

    digest = dedupe_digest("information", "anna", "Same text.", key=b"k" * 32)
    old, _ = make_submission(app, dedupe_digest=digest)
    with app.app_context():
        assert is_duplicate(digest)
        db.session.get(Submission, old).created_at = utcnow() - timedelta(minutes=Submission.DUPLICATE_MINUTES + 1)
        db.session.commit()
    make_submission(app, body="Another.")  # the next submission erases the expired digest
    with app.app_context():
        assert db.session.get(Submission, old).dedupe_digest is None
        assert forget_duplicates() == 0


def test_the_hourly_gc_erases_duplicate_digests_past_their_window(app, runner):
    from app.submissions.create import dedupe_digest

    kept, _ = make_submission(app, dedupe_digest=dedupe_digest("contact", "a", "Recent.", key=b"k" * 32))
    old, _ = make_submission(app, dedupe_digest=dedupe_digest("contact", "b", "Old.", key=b"k" * 32))
    with app.app_context():
        db.session.get(Submission, old).created_at = utcnow() - timedelta(minutes=Submission.DUPLICATE_MINUTES + 1)
        db.session.commit()
    assert "Erased 1 expired duplicate checks." in runner.invoke(args=["uploads", "gc"]).output
    with app.app_context():
        assert db.session.get(Submission, old).dedupe_digest is None
        assert db.session.get(Submission, kept).dedupe_digest is not None


def test_files_keep_their_name_for_a_reader_and_are_403_to_a_moderator_they_are_locked_to(app, client, readers):
    data = dict(FORMS["information"], attachments=[(io.BytesIO(jpeg()), "kitchen-window.jpg")])
    assert receipt_from(
        client.post("/submit/information", data=data, content_type="multipart/form-data").get_data(True)
    )
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one().id
    sign_in(client, app, readers)
    download = client.get(f"/moderation/attachments/{attachment}")
    assert download.status_code == 200 and "kitchen-window.jpg" in download.headers["Content-Disposition"]
    client.post("/auth/logout")
    newcomer(app, client)
    assert client.get(f"/moderation/attachments/{attachment}").status_code == 403
    assert client.get(f"/moderation/attachments/{attachment}/preview").status_code == 403


def test_the_public_forms_open_nothing_they_seal_with_public_keys_only(app, client, readers, monkeypatch):
    from app.crypto import sodium

    def refused(*_args):
        raise AssertionError("a public form opened something")

    monkeypatch.setattr(sodium, "unseal", refused)
    monkeypatch.setattr(sodium, "open_", refused)
    for kind, fields in FORMS.items():
        response = client.post(f"/submit/{kind}", data=fields)
        assert receipt_from(response.get_data(as_text=True)), kind


def test_readers_pages_do_no_cryptography(app, client, readers, monkeypatch):
    from app.crypto import sodium

    live_ad(app, client, readers, title="Citrine stool")

    def refused(*_args, **_kwargs):
        raise AssertionError("a reader's page used a key")

    for name in ("unseal", "open_", "seal", "close", "argon2", "new_pair"):
        monkeypatch.setattr(sodium, name, refused)
    with app.app_context():
        public_id = db.session.scalar(select(Submission.public_id))
    for url in ("/", "/ads", "/ads?q=citrine", f"/ads/{public_id}", "/ads/feed.atom"):
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        assert "Citrine stool" in response.get_data(as_text=True), url
