"""What a revoked key leaves behind (issue 24; found by attacking the first version): nothing the database files
still give after sign-out or disabling, no row that outlives its timeout by more than a minute of anyone's
requests, and no stored value (a damaged wrap, a changed SECRET_KEY, a crafted date) that turns a staff page
into a 500."""

import base64
import os
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from app import sessions, staff
from app.crypto import epochs, sodium
from app.extensions import db
from app.models import EpochWrap, Event, UnlockedSession, User, utcnow
from tests.helpers import PASSWORD, make_app, sign_in


def database_bytes(app) -> bytes:
    """Every file SQLite keeps for the database, as it is on disk (no checkpoint of ours first)."""
    with app.app_context():
        path = db.engine.url.database
    return b"".join(open(path + end, "rb").read() for end in ("", "-wal", "-shm") if os.path.exists(path + end))


def made(app, *accounts) -> dict[str, int]:
    with app.app_context():
        return {name: staff.create(name, role, PASSWORD).id for name, role in accounts}


def sealed_rows(app, model, **where) -> list[bytes]:
    with app.app_context():
        query = select(model.sealed).filter_by(**where)
        return list(db.session.scalars(query))


def test_sign_out_leaves_no_copy_of_the_unlocked_key_in_the_database_files(app, client):
    if app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite's files; PostgreSQL's VACUUM is run by the same settle() as a withdrawal's")
    ids = made(app, ("olga", "moderator"))
    sign_in(client, app, ids["olga"])
    (sealed,) = sealed_rows(app, UnlockedSession, user_id=ids["olga"])
    assert sealed in database_bytes(app)
    client.post("/auth/logout")
    assert sealed_rows(app, UnlockedSession) == []
    assert sealed not in database_bytes(app)


def test_disabling_leaves_no_copy_of_the_accounts_wraps_in_the_database_files(app):
    if app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite's files")
    ids = made(app, ("boss", "admin"), ("olga", "moderator"))
    wraps = sealed_rows(app, EpochWrap, user_id=ids["olga"])
    assert wraps and all(wrap in database_bytes(app) for wrap in wraps)
    with app.app_context():
        staff.set_active(db.session.get(User, ids["olga"]), False)
    everything = database_bytes(app)
    assert sealed_rows(app, EpochWrap, user_id=ids["olga"]) == []
    assert not any(wrap in everything for wrap in wraps)


def test_a_timed_out_row_goes_at_the_next_staff_request_of_anyone(app, client):
    ids = made(app, ("olga", "moderator"), ("ivan", "moderator"))
    start = utcnow()
    idle = timedelta(seconds=app.config["IDLE_TIMEOUT"])
    with time_machine.travel(start, tick=False):
        sign_in(client, app, ids["olga"])  # and she never comes back
    other = app.test_client()
    with time_machine.travel(start + idle - timedelta(seconds=10), tick=False):
        sign_in(other, app, ids["ivan"])  # (her row still lives: his sign-in leaves it)
    with app.app_context():
        assert sorted(db.session.scalars(select(UnlockedSession.user_id))) == [ids["olga"], ids["ivan"]]
    with time_machine.travel(start + idle + timedelta(seconds=70), tick=False):
        sessions._cleared_at = 0.0  # (this worker's minute)
        assert other.get("/moderation").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(UnlockedSession.user_id)).all() == [ids["ivan"]]


def test_a_row_left_by_a_sign_in_that_raced_the_end_of_its_sessions_is_purged(app, client):
    """start() read the account before "end sessions now" bumped it: its row names an old version, opens nothing
    on the live site, and must not wait for its timeout in the database either."""
    ids = made(app, ("olga", "moderator"))
    sign_in(client, app, ids["olga"])
    with app.app_context():
        db.session.execute(update(User).values(session_version=User.session_version + 1))  # (no revoke: the race)
        db.session.commit()
        from app.crypto import unlocking

        assert unlocking.purge() == 1
        db.session.commit()
        assert db.session.scalar(select(UnlockedSession.id)) is None


def test_older_items_are_not_given_to_an_account_whose_password_an_admin_still_knows(app, client):
    ids = made(app, ("boss", "admin"))
    with app.app_context():
        boss = db.session.get(User, ids["boss"])
        newcomer = staff.create("olga", "moderator", PASSWORD, by=boss)  # must choose her own password first
        with pytest.raises(staff.StaffError):
            staff.grant(newcomer, None, by=boss, secret=b"\0" * 32)
        newcomer_id = newcomer.id
    sign_in(client, app, ids["boss"])
    response = client.get(f"/admin/users/{newcomer_id}/grant")
    assert response.status_code == 303
    assert "has not chosen their own password yet" in client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{newcomer_id}/grant" not in client.get("/admin/users").get_data(as_text=True)


def test_a_fresh_installs_epoch_after_secret_key_changed_does_not_stop_the_first_reader(app, tmp_path):
    with app.app_context():
        first = epochs.current().id
        db.session.commit()
    other = make_app(tmp_path, SECRET_KEY="another secret key that is long enough 0123456789")
    with other.app_context():
        staff.create("olga", "moderator", PASSWORD)  # was sodium.Refused: nobody could be made a reader
        assert db.session.scalar(select(EpochWrap.id).where(EpochWrap.holder == "install")) is None
        lost = db.session.scalar(select(Event.detail).where(Event.action == "install_epoch_lost"))
        assert lost == f"epoch {first}"
        db.session.remove()
        db.engine.dispose()


def test_a_damaged_wrap_opens_nothing_and_breaks_no_page(app, client):
    ids = made(app, ("boss", "admin"), ("olga", "moderator"))
    with app.app_context():
        first = db.session.scalar(select(EpochWrap).where(EpochWrap.user_id == ids["boss"]).order_by(EpochWrap.id))
        first.sealed = first.sealed[:-1] + bytes([first.sealed[-1] ^ 1])
        db.session.commit()
    sign_in(client, app, ids["boss"])
    app.config["RECOVERY_PUBLIC_KEY"] = base64.b64encode(
        sodium.new_pair().public
    ).decode()  # (sealing walks every wrap)
    assert client.get("/admin/users").status_code == 200
    assert client.get("/moderation").status_code == 200
    response = client.post(f"/admin/users/{ids['olga']}/grant", data={"scope": "all"})
    assert response.status_code == 303  # the damaged period is skipped, the others given


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31"])
def test_a_grant_since_a_day_before_any_epoch_gives_everything(app, client, day):
    ids = made(app, ("boss", "admin"), ("olga", "moderator"))
    with app.app_context():
        staff.set_password(db.session.get(User, ids["olga"]), PASSWORD)  # a new pair: she holds the newest only
    sign_in(client, app, ids["boss"])
    response = client.post(f"/admin/users/{ids['olga']}/grant", data={"scope": "since", "since": day})
    assert response.status_code == 303
    with app.app_context():
        olga = db.session.get(User, ids["olga"])
        boss = db.session.get(User, ids["boss"])
        assert set(epochs.held(boss)) <= set(epochs.held(olga))


def test_the_demo_leaves_an_account_of_its_name_in_another_role_alone(app, runner):
    made(app, ("editor", "admin"))
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "not the demo's" in result.output
    with app.app_context():
        assert staff.find("editor").role == "admin"
        assert db.session.scalars(select(Event.action).where(Event.action == "user_changed")).all() == []


def test_a_recovery_key_of_small_order_is_no_key_and_stops_the_site_from_starting(tmp_path):
    """32 zero bytes decode as a key, but libsodium refuses to seal to it: every rotation would fail."""
    with pytest.raises(RuntimeError, match="PRYSTAN_RECOVERY_PUBLIC_KEY is not a public key"):
        make_app(tmp_path, RECOVERY_PUBLIC_KEY=base64.b64encode(bytes(32)).decode())
