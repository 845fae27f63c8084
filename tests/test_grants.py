"""On /admin/users an unlocked admin gives a moderator or admin the older periods of the queue key (all, or since a
day), after a confirmation; the page shows the recovery key and whether the admin's session can open sealed items;
disabling or demoting the last who can read is refused with a reason; and the next unlocked admin's request seals
to a newly configured recovery key the periods that began before it."""

import base64
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, func, select

from app import staff
from app.crypto import epochs, sodium
from app.extensions import db
from app.models import EpochWrap, Event, QueueEpoch, UnlockedSession, User
from tests.browser import DESKTOP, PHONE, screenshot
from tests.browser import sign_in as browser_sign_in
from tests.helpers import PASSWORD, errors_in, make_user, sign_in

RECOVERY = sodium.new_pair()
OTHER_RECOVERY = sodium.new_pair()


def key_text(pair) -> str:
    return base64.b64encode(pair.public).decode()


def made(app, *accounts) -> dict[str, int]:
    """Accounts made as the app makes them (key pairs, a new period for each reader), oldest first."""
    with app.app_context():
        return {name: staff.create(name, role, PASSWORD).id for name, role in accounts}


def held(app, user_id) -> list[int]:
    with app.app_context():
        return epochs.held(db.session.get(User, user_id))


def all_epochs(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(QueueEpoch.id).order_by(QueueEpoch.id)))


def events(app, action) -> list[Event]:
    with app.app_context():
        found = list(db.session.scalars(select(Event).where(Event.action == action)))
        db.session.expunge_all()
        return found


def page_of(client, url="/admin/users") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def lock(app, user_id) -> None:
    """The admin's session can no longer open sealed items (its unlocked session row is gone, as after a restore or
    the purge of a row that timed out), while the cookie still signs it in."""
    with app.app_context():
        db.session.execute(delete(UnlockedSession).where(UnlockedSession.user_id == user_id))
        db.session.commit()


@pytest.fixture
def team(app, client):
    """boss (admin, signed in and unlocked), then ivan and olga (moderators): olga arrived last, so she holds only
    the newest period; boss holds all three."""
    ids = made(app, ("boss", "admin"), ("ivan", "moderator"), ("olga", "moderator"))
    sign_in(client, app, ids["boss"])
    return ids


# Grants


def test_an_unlocked_admin_gives_a_newcomer_everything_after_a_confirmation(app, client, team):
    olga = team["olga"]
    assert held(app, olga) == all_epochs(app)[-1:]
    users = page_of(client)
    assert f'href="/admin/users/{olga}/grant"' in users and "Give access to older items…" in users
    confirm = page_of(client, f"/admin/users/{olga}/grant")
    assert "olga will be able to read everything sent in the period you choose, that you can read yourself." in confirm
    assert held(app, olga) == all_epochs(app)[-1:]  # the page alone gives nothing
    response = client.post(f"/admin/users/{olga}/grant", data={"scope": "all", "since": ""})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/users"
    assert held(app, olga) == all_epochs(app)
    assert "olga was given 2 periods." in page_of(client)
    (event,) = events(app, "epochs_granted")
    assert (event.actor_id, event.detail) == (team["boss"], f"user {olga}: 2 epochs")
    audit = page_of(client, "/admin/audit")
    assert "<td>gave an account access to older items</td>" in audit
    again = client.post(f"/admin/users/{olga}/grant", data={"scope": "all"})
    assert again.status_code == 303
    assert "Nothing to give: olga already holds every period you hold in that time." in page_of(client)


def test_what_she_is_given_opens_with_her_own_key(app, client, team):
    client.post(f"/admin/users/{team['olga']}/grant", data={"scope": "all"})
    with app.app_context():
        olga = db.session.get(User, team["olga"])
        secret = staff.open_key(olga, PASSWORD)
        boss = db.session.get(User, team["boss"])
        boss_secret = staff.open_key(boss, PASSWORD)
        for epoch_id in all_epochs(app):
            assert epochs.open_epoch(olga, secret, epoch_id) == epochs.open_epoch(boss, boss_secret, epoch_id)


def set_epoch_times(app, *times) -> None:
    with app.app_context():
        for epoch, when in zip(db.session.scalars(select(QueueEpoch).order_by(QueueEpoch.id)), times, strict=False):
            epoch.created_at = when
        db.session.commit()


def test_since_a_date_gives_the_periods_current_from_that_day_in_the_sites_time_zone(app, client, team):
    first, second, third = all_epochs(app)
    # The second period ended at 22:00 UTC on 29 February: 1:00 on 1 March in Minsk, where the site's days are.
    set_epoch_times(app, datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 2, 29, 22))
    response = client.post(f"/admin/users/{team['olga']}/grant", data={"scope": "since", "since": "2024-03-01"})
    assert response.status_code == 303
    assert held(app, team["olga"]) == [second, third]
    assert "olga was given 1 period." in page_of(client)
    (event,) = events(app, "epochs_granted")
    assert event.detail == f"user {team['olga']}: 1 epochs since 2024-02-29 21:00 UTC"  # Minsk's midnight
    client.post(f"/admin/users/{team['olga']}/grant", data={"scope": "since", "since": "2024-01-15"})
    assert held(app, team["olga"]) == [first, second, third]


def test_a_locked_admin_is_told_why_and_gives_nothing(app, client, team):
    olga = team["olga"]
    assert "Your session can open sealed items." in page_of(client)
    lock(app, team["boss"])
    users = page_of(client)
    assert "Your session cannot open sealed items: sign out and sign in again with your password." in users
    confirm = page_of(client, f"/admin/users/{olga}/grant")
    assert "sign out and sign in again with your password" in confirm and "Give access</button>" not in confirm
    response = client.post(f"/admin/users/{olga}/grant", data={"scope": "all"})
    assert response.status_code == 422
    assert "Your session cannot open sealed items" in response.get_data(as_text=True)
    assert held(app, olga) == all_epochs(app)[-1:]
    assert events(app, "epochs_granted") == []
    sign_in(client, app, team["boss"])  # signing in again with the password unlocks
    assert client.post(f"/admin/users/{olga}/grant", data={"scope": "all"}).status_code == 303
    assert held(app, olga) == all_epochs(app)


def test_editors_disabled_accounts_and_oneself_are_refused(app, client, team):
    ids = made(app, ("petr", "editor"))
    with app.app_context():
        staff.set_active(db.session.get(User, team["ivan"]), False)
    users = page_of(client)
    assert f"/admin/users/{team['olga']}/grant" in users
    for user_id in (ids["petr"], team["ivan"], team["boss"]):
        assert f"/admin/users/{user_id}/grant" not in users
    before = {user_id: held(app, user_id) for user_id in (ids["petr"], team["ivan"], team["boss"])}
    for user_id in before:
        assert client.get(f"/admin/users/{user_id}/grant").status_code == 303
        assert client.post(f"/admin/users/{user_id}/grant", data={"scope": "all"}).status_code == 303
    assert {user_id: held(app, user_id) for user_id in before} == before
    assert events(app, "epochs_granted") == []
    users = page_of(client)
    assert "petr cannot be given older items: only an active moderator or admin can." in users
    assert "ivan cannot be given older items" in users and "You already hold what you can give." in users
    assert client.get("/admin/users/999/grant").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scope": "since", "since": "2999-01-01"}, "Choose a day that is not in the future."),
        ({"scope": "since", "since": "1/3/2024"}, "Enter a date like 2024-03-01."),
        ({"scope": "since", "since": ""}, "Choose the date, or choose everything."),
        ({"scope": "all", "since": "2024-03-01"}, "You chose everything: leave the date empty, or choose"),
        ({"scope": "some", "since": ""}, "Choose everything, or since the date below."),
    ],
)
def test_a_bad_choice_is_explained_and_what_was_typed_is_kept(app, client, team, data, message):
    response = client.post(f"/admin/users/{team['olga']}/grant", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert any(message in error for error in errors_in(html)), errors_in(html)
    if data["since"]:
        assert f'value="{data["since"]}"' in html
    assert held(app, team["olga"]) == all_epochs(app)[-1:]


def test_tomorrow_where_the_site_is_is_in_the_future(app, client, team):
    tomorrow = (datetime.now(UTC) + timedelta(hours=3) + timedelta(days=1)).date()  # Minsk is UTC+3 all year
    response = client.post(f"/admin/users/{team['olga']}/grant", data={"scope": "since", "since": f"{tomorrow}"})
    assert response.status_code == 422
    today = tomorrow - timedelta(days=1)
    assert (
        client.post(f"/admin/users/{team['olga']}/grant", data={"scope": "since", "since": f"{today}"}).status_code
        == 303
    )


# The last who can read


def sign_in_from_before_the_keys(client, user_id) -> None:
    """A session that began before this version (no key pair yet; the upgrade kept its cookie valid): the one way an
    admin who is not a reader can use /admin/users, since any sign-in gives the account its key pair."""
    with client.session_transaction() as session:
        session["_user_id"] = f"{user_id}:1"
        session["auth_at"] = session["seen_at"] = time.time()


def test_the_last_reader_cannot_be_disabled_or_demoted_and_nothing_changes(app, client):
    boss = make_user(app, "boss", "admin")  # no key pair: it cannot read, and so is no reader
    olga = made(app, ("olga", "moderator"))["olga"]
    sign_in_from_before_the_keys(client, boss)
    periods = len(all_epochs(app))
    for url, data in ((f"/admin/users/{olga}/active", {}), (f"/admin/users/{olga}/role", {"role": "editor"})):
        assert client.post(url, data=data).status_code == 303
        shown = page_of(client)
        assert "Nothing changed: olga is the last moderator or admin who can read what is sent" in shown
        assert "Add another moderator or admin first, or configure a recovery key." in shown
    with app.app_context():
        account = db.session.get(User, olga)
        assert account.active and account.role == "moderator" and account.session_version == 1
    assert held(app, olga) == all_epochs(app) and len(all_epochs(app)) == periods
    assert events(app, "user_changed") == []


def test_with_a_recovery_key_the_last_reader_can_be_disabled(app, client):
    boss = make_user(app, "boss", "admin")
    olga = made(app, ("olga", "moderator"))["olga"]
    sign_in_from_before_the_keys(client, boss)
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(RECOVERY)
    assert client.post(f"/admin/users/{olga}/active").status_code == 303
    assert "Account olga updated." in page_of(client)
    with app.app_context():
        assert not db.session.get(User, olga).active
    assert held(app, olga) == []


def test_an_admin_signed_in_now_reads_so_the_last_moderator_can_go(app, client):
    """Why the refusal is rare through this page: signing in gives the admin a key pair, and an admin reads."""
    boss = make_user(app, "boss", "admin")
    olga = made(app, ("olga", "moderator"))["olga"]
    sign_in(client, app, boss)
    assert client.post(f"/admin/users/{olga}/active").status_code == 303
    assert "Account olga updated." in page_of(client)
    assert held(app, olga) == [] and held(app, boss) != []


# The recovery key


def test_no_recovery_key_is_said_plainly(app, client, team):
    shown = page_of(client)
    assert "No recovery key is configured." in shown
    assert "the last moderator or admin who can read what is sent cannot be disabled or demoted" in shown


def test_the_recovery_key_in_use_shows_its_fingerprint(app, client, team):
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(RECOVERY)
    shown = page_of(client)
    assert "Recovery key in use:" in shown and sodium.fingerprint(RECOVERY.public) in shown
    assert "not the one first used here" not in shown
    assert len(events(app, "recovery_key_set")) == 1
    assert "<td>began to seal to the recovery key</td>" in page_of(client, "/admin/audit")


def test_a_different_recovery_key_is_warned_about_and_recorded_once(app, client, team):
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(RECOVERY)
    page_of(client)  # first used here: its fingerprint is kept
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(OTHER_RECOVERY)
    shown = page_of(client)
    assert "The configured recovery key is not the one first used here, so nothing is sealed to it." in shown
    assert sodium.fingerprint(OTHER_RECOVERY.public) in shown and "flask crypto use-recovery-key" in shown
    assert "PRYSTAN_RECOVERY_PUBLIC_KEY" in shown
    page_of(client)
    (event,) = events(app, "recovery_key_differs")
    assert sodium.fingerprint(OTHER_RECOVERY.public) in event.detail
    audit = page_of(client, "/admin/audit")
    assert re.search(
        r"<td>the server</td>\s*<td>found a different recovery key configured, and did not use it</td>", audit
    )


def recovery_wraps(app) -> dict[int, bytes]:
    with app.app_context():
        rows = db.session.execute(select(EpochWrap.epoch_id, EpochWrap.sealed).where(EpochWrap.holder == "recovery"))
        return dict(rows.all())


def test_the_next_unlocked_admins_request_seals_older_periods_to_a_new_recovery_key(app, client, team):
    assert recovery_wraps(app) == {}
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(RECOVERY)
    lock(app, team["boss"])
    page_of(client)
    assert recovery_wraps(app) == {}  # a locked session cannot open them to seal them
    sign_in(client, app, team["boss"])
    page_of(client, "/admin/audit")  # any admin page
    wraps = recovery_wraps(app)
    assert sorted(wraps) == all_epochs(app)
    with app.app_context():
        boss = db.session.get(User, team["boss"])
        secret = staff.open_key(boss, PASSWORD)
        for epoch_id, sealed in wraps.items():
            assert sodium.unseal(RECOVERY.secret, sealed) == epochs.open_epoch(boss, secret, epoch_id)
        assert not epochs.missing_recovery()
    (event,) = events(app, "recovery_sealed")
    assert (event.actor_id, event.detail) == (team["boss"], "3 epochs")
    page_of(client)
    assert len(events(app, "recovery_sealed")) == 1  # nothing left to do


def test_a_moderators_request_seals_what_they_hold_and_the_rest_waits_for_one_who_holds_it(app, client, team):
    """Not only admins: an epoch only a moderator holds would otherwise never reach the recovery key, and could be
    lost with that moderator."""
    app.config["RECOVERY_PUBLIC_KEY"] = key_text(RECOVERY)
    moderator = app.test_client()
    sign_in(moderator, app, team["ivan"])
    assert moderator.get("/moderation").status_code == 200
    first, *held_by_ivan = all_epochs(app)
    assert held(app, team["ivan"]) == held_by_ivan
    assert sorted(recovery_wraps(app)) == held_by_ivan  # the first period is boss's alone
    page_of(client)  # boss, unlocked, comes by
    wraps = recovery_wraps(app)
    assert sorted(wraps) == [first, *held_by_ivan]
    with app.app_context():
        for epoch_id, sealed in wraps.items():
            public = db.session.get(QueueEpoch, epoch_id).public_key
            assert sodium.public_of(sodium.unseal(RECOVERY.secret, sealed)) == public


# In a browser


@pytest.mark.e2e
@pytest.mark.once
def test_an_admin_gives_access_on_a_phone_and_on_a_desktop(browser, live_server):
    app = live_server.app
    ids = made(app, ("boss", "admin"), ("ivan", "moderator"), ("olga", "moderator"))
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "mobile")):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        page = context.new_page()
        problems = []

        def on_console(message, problems=problems):
            if message.type == "error" and "status of 422" not in message.text:  # the form's errors, expected
                problems.append(message.text)

        page.on("console", on_console)
        browser_sign_in(page, "boss")
        page.goto("/admin/users")
        expect(page.get_by_text("Your session can open sealed items.")).to_be_visible()
        screenshot(page, f"admin-users-keys-{name}")
        page.get_by_role("row", name=re.compile("^olga")).get_by_role(
            "link", name="Give access to older items…"
        ).click()
        expect(page.get_by_role("heading", name="Give olga access to older items")).to_be_visible()
        screenshot(page, f"admin-grant-{name}")
        page.get_by_label("Only what was sent since the date below").check()
        page.get_by_label("Date (that day included)").fill("2999-01-01")
        page.get_by_role("button", name="Give access").click()
        expect(page.locator("#error-summary")).to_be_visible()
        screenshot(page, f"admin-grant-errors-{name}")
        page.get_by_label("Everything you can read").check()
        page.get_by_label("Date (that day included)").fill("")
        page.get_by_role("button", name="Give access").click()
        expect(page).to_have_url(re.compile(r"/admin/users$"))
        given = "olga was given 2 periods." if name == "desktop" else "Nothing to give: olga already holds"
        expect(page.get_by_text(given)).to_be_visible()
        assert problems == []
        context.close()
    assert held(app, ids["olga"]) == all_epochs(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event).where(Event.action == "epochs_granted")) == 2


def test_the_page_names_accounts_without_keys_and_first_passwords_not_yet_replaced(app, client, team):
    """After an upgrade, accounts made before keys are read to only once they sign in; a newcomer with an admin's
    first password can be given nothing yet: the admin sees both."""
    from tests.helpers import make_user

    make_user(app, "old_hand", "moderator")  # (as before keys: no pair)
    with app.app_context():
        staff.create("newcomer", "moderator", PASSWORD, by=db.session.get(User, team["boss"]))
    page = page_of(client)
    assert "no key pair yet: made at the next sign-in" in page
    assert "first password not yet changed" in page
