"""`flask demo` (and so `make run`), run again and again: each run gives the demo moderator a new password and key
pair, and so a new queue epoch; the demo's items are remade in it, so the moderator always reads them (AT-REST.md,
"The demo"). What someone sent through the forms is left alone."""

from markupsafe import escape
from sqlalchemy import func, select

from app import receipts, sessions
from app.crypto import epochs
from app.crypto import receipts as receipt_keys
from app.demo import ARTICLES, PUBLISHED_ADS, SUBMISSIONS
from app.extensions import db
from app.models import Article, DemoItem, Event, Message, Note, Submission, User
from app.submissions import sealed
from tests.helpers import receipt_from, staff_opener


def shown(fields: dict) -> str:
    """What the queue's row shows of an item (never its username: issue 28)."""
    return str(escape(fields.get("title") or fields["body"][:40]))


PENDING = [shown(f) for kind, f in SUBMISSIONS if f["telegram"] != "demo_relative"]  # the case is taken on
APPROVED = [shown(f) for kind, f in SUBMISSIONS if f["telegram"] == "demo_relative"]
APPROVED += [shown(f) for _, f, _ in PUBLISHED_ADS]
HANDLES = sorted([f["telegram"] for _, f in SUBMISSIONS] + [f["telegram"] for _, f, _ in PUBLISHED_ADS])


def run_demo(runner) -> tuple[str, str]:
    """Run `flask demo`; return what it printed and the moderator's password it printed."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return result.output, result.output.split("password: ")[1].split()[0]


def opened(app, password) -> dict[int, object]:
    """Every item's words (id -> Texts) as the demo moderator reads them, unlocked with the password printed."""
    with app.app_context():
        opener = staff_opener("moderator", password)
        return {item.id: opener.texts(item) for item in db.session.scalars(select(Submission))}


def demo_handles(app, password) -> list[str]:
    words = opened(app, password)
    with app.app_context():
        demo = db.session.scalars(select(DemoItem.submission_id))
        return sorted(words[item_id].telegram for item_id in demo)


def assert_moderator_reads_the_demo(app, password):
    """Sign the demo moderator in with the printed password, as a person would: the session is unlocked, holds the
    epoch every demo item was made in, and the queue, the ads and the articles show each demo item once."""
    client = app.test_client()
    assert client.post("/auth/login", data={"username": "moderator", "password": password}).status_code == 303
    with client:
        queue = client.get("/moderation").get_data(as_text=True)
        key = sessions.staff_key()
        assert key is not None, "the moderator's session is not unlocked"
        moderator = db.session.scalar(select(User).where(User.username == "moderator"))
        current = epochs.current()
        assert current.id in epochs.held(moderator)
        assert epochs.open_epoch(moderator, key, current.id) is not None
        demo = list(db.session.scalars(select(Submission).where(Submission.id.in_(select(DemoItem.submission_id)))))
        assert len(demo) == len(SUBMISSIONS) + len(PUBLISHED_ADS)
        # Made in the epoch the moderator holds now, not in one that ended with the last run's password.
        assert all(item.created_at >= current.created_at for item in demo)
    for words in PENDING:
        assert queue.count(words) == 1, words
    approved = client.get("/moderation?status=approved").get_data(as_text=True)
    for words in APPROVED:
        assert approved.count(words) == 1, words
    ads = client.get("/ads").get_data(as_text=True)
    for _, fields, _ in PUBLISHED_ADS:
        assert ads.count(str(escape(fields["title"]))) == 1, fields["title"]
    listed = client.get("/articles").get_data(as_text=True)
    for _, title, _, _ in ARTICLES:
        assert listed.count(str(escape(title))) == 1, title
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Article)) == len(ARTICLES)


def by_receipt(app, code, submission_id):
    """An item's words as its sender reads them, with the receipt code."""
    with app.app_context():
        opener = sealed.Opener.for_receipt(receipt_keys.derive(receipts.parse(code)).key)
        return opener.texts(db.session.get(Submission, submission_id))


def send_form(app, telegram, body) -> str:
    """Send information through the public form, as a visitor would; return the receipt code."""
    page = app.test_client().post("/submit/information", data={"telegram": telegram, "body": body})
    code = receipt_from(page.get_data(as_text=True))
    assert code, "the form did not take the submission"
    return code


def test_run_twice_the_moderator_signs_in_to_demo_items_they_read_and_a_form_submission_stays(app, runner):
    first, password = run_demo(runner)
    assert f"Demo content: {len(SUBMISSIONS) + len(PUBLISHED_ADS)} items (re)made; 3 articles added." in first
    assert_moderator_reads_the_demo(app, password)
    code = send_form(app, "anna_k1", "Sent through the form between two runs of the demo.")

    second, new_password = run_demo(runner)
    assert "items (re)made (10 of an earlier run erased); articles already present." in second
    assert new_password != password
    assert_moderator_reads_the_demo(app, new_password)
    # The form's item stays, unmarked. It arrived before the moderator's new key pair, which does not open it (an
    # admin can give older items): the queue lists it, locked; its sender still reads it with the receipt.
    with app.app_context():
        sent = db.session.scalars(select(Submission.id).where(Submission.id.notin_(select(DemoItem.submission_id))))
        (sent_id,) = sent.all()
    assert opened(app, new_password)[sent_id] is None
    words = by_receipt(app, code, sent_id)
    assert (words.telegram, words.body) == ("anna_k1", "Sent through the form between two runs of the demo.")
    queue = app.test_client()
    queue.post("/auth/login", data={"username": "moderator", "password": new_password})
    page = queue.get("/moderation").get_data(as_text=True)
    assert page.count(f'id="row-{sent_id}"') == 1 and "@anna_k1<" not in page


def test_the_last_runs_items_go_for_good_with_their_thread_and_notes(app, runner):
    run_demo(runner)
    with app.app_context():
        before = set(db.session.scalars(select(DemoItem.submission_id)))
    _, password = run_demo(runner)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission).where(Submission.id.in_(before))) == 0
        # One case was written to and noted: this run's, and none is left of the last run's.
        opener = staff_opener("moderator", password)
        assert [opener.message(m) for m in db.session.scalars(select(Message))] == [
            "Thank you. Does he have a copy of the release certificate?"
        ]
        assert db.session.scalar(select(func.count()).select_from(Note)) == 1
        assert db.session.scalar(select(Message.submission_id)) not in before
        # The ads were approved by the moderator, through the approval every ad goes through.
        approvals = select(func.count()).select_from(Event).where(Event.action == "approved")
        assert db.session.scalar(approvals.where(Event.submission_id.notin_(before))) == len(PUBLISHED_ADS)
        erased = select(func.count()).select_from(Event).where(Event.action == "deleted", Event.detail == "demo")
        assert db.session.scalar(erased) == len(before)
    assert demo_handles(app, password) == HANDLES


def as_made_before_marking(app, password):
    """Turn the demo's items into what an older `flask demo` made, before items were marked and before words were
    sealed: no DemoItem rows, no item key, the words in clear."""
    with app.app_context():
        opener = staff_opener("moderator", password)
        for item in db.session.scalars(select(Submission).where(Submission.id.in_(select(DemoItem.submission_id)))):
            words = opener.texts(item)
            item.telegram, item.title, item.body, item.city = words.telegram, words.title, words.body, words.city
            item.public_key = item.key_for_queue = item.key_for_receipt = item.sealed = item.epoch_id = None
        db.session.execute(DemoItem.__table__.delete())
        db.session.commit()


def test_demo_content_made_before_items_were_marked_is_replaced_not_doubled(app, runner):
    """A site whose demo content an older `flask demo` made (no DemoItem rows, words in clear): the next run erases
    it by its handles and texts, and a visitor's submission that uses a demo handle with words of its own stays."""
    _, password = run_demo(runner)
    as_made_before_marking(app, password)
    code = send_form(app, "demo_witness", "My own words, under a handle the demo also uses.")

    _, password = run_demo(runner)
    assert demo_handles(app, password) == HANDLES
    with app.app_context():
        kept = db.session.scalars(select(Submission.id).where(Submission.id.notin_(select(DemoItem.submission_id))))
        (kept_id,) = kept.all()  # the older run's items are gone, not doubled; the visitor's stays
    words = by_receipt(app, code, kept_id)
    assert (words.telegram, words.body) == ("demo_witness", "My own words, under a handle the demo also uses.")
