"""The queue key in epochs (issue 24, item 4; AT-REST.md, "Queue key, in epochs"): an epoch is made from public keys
only and sealed to every active moderator and admin (and the recovery key); a new one begins whenever who may read
changes, and only then; the last who can read cannot go without a recovery key; what a fresh install sealed goes to
the first staff account; no instance keeps sealing to an epoch that ended; a newcomer holds only what came after
them until granted."""

import base64
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, select

from app import staff
from app.crypto import epochs, sodium, staffkeys
from app.extensions import db
from app.models import EpochWrap, KeySetting, QueueEpoch, UnlockedSession, User
from app.security import derive_key
from tests.helpers import PASSWORD, count, make_app, make_user

RECOVERY = sodium.new_pair()
WITH_RECOVERY = {"RECOVERY_PUBLIC_KEY": base64.b64encode(RECOVERY.public).decode()}
NEW_PASSWORD = "another long password"


def made(app, *accounts) -> dict[str, int]:
    """Accounts made as the app makes them (a key pair each), in this order: {name: id}."""
    with app.app_context():
        return {name: staff.create(name, role, PASSWORD).id for name, role in accounts}


def user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def newest(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.max(QueueEpoch.id))) or 0


def holders(app, epoch_id: int) -> set[str]:
    """Who an epoch is sealed to: usernames, and "recovery" or "install" for those wraps."""
    with app.app_context():
        wraps = db.session.execute(
            select(EpochWrap.holder, User.username).outerjoin(User).where(EpochWrap.epoch_id == epoch_id)
        )
        return {name if holder == "staff" else holder for holder, name in wraps}


def held(app, name: str) -> list[int]:
    with app.app_context():
        return epochs.held(user(name))


def public(app, name: str) -> bytes:
    with app.app_context():
        return user(name).public_key


def opens(app, name: str, epoch_id: int, password: str = PASSWORD) -> bool:
    """The account's own secret key (opened with its password) opens its wrap of the epoch, to the secret key that
    belongs to the epoch's public key."""
    with app.app_context():
        person = user(name)
        secret = epochs.open_epoch(person, staffkeys.unlock(person.locked_key, password), epoch_id)
        return secret is not None and sodium.public_of(secret) == db.session.get(QueueEpoch, epoch_id).public_key


def recovery_opens(app, epoch_id: int) -> bool:
    with app.app_context():
        sealed = db.session.scalar(
            select(EpochWrap.sealed).where(EpochWrap.epoch_id == epoch_id, EpochWrap.holder == "recovery")
        )
        epoch_public = db.session.get(QueueEpoch, epoch_id).public_key
    return sodium.public_of(sodium.unseal(RECOVERY.secret, sealed)) == epoch_public


# Made from public keys, sealed to readers


def test_a_new_epoch_is_sealed_to_every_active_reader_with_a_key_pair_and_no_one_else(app):
    made(app, ("ann", "admin"), ("olga", "moderator"), ("ed", "editor"), ("dis", "moderator"))
    make_user(app, "legacy", "moderator")  # made before keys existed: no key pair yet
    with app.app_context():
        staff.set_active(user("dis"), False)
    before = newest(app)
    assert count(app, UnlockedSession) == 0  # no one is signed in: public keys are enough
    made(app, ("mia", "moderator"))
    epoch = newest(app)
    assert epoch > before
    assert holders(app, epoch) == {"ann", "olga", "mia"}
    assert all(opens(app, name, epoch) for name in ("ann", "olga", "mia"))


# A new epoch when who may read changes, and only then


def add(name, role):
    return lambda people: staff.create(name, role, PASSWORD)


def cli(runner, *args):
    def run(_people):
        result = runner.invoke(args=list(args), input=NEW_PASSWORD + "\n")
        assert result.exit_code == 0, result.output

    return run


TEAM = (("boss", "admin"), ("olga", "moderator"), ("ivan", "moderator"), ("ed", "editor"), ("dis", "moderator"))
READERS = {"boss", "olga", "ivan"}


@pytest.mark.parametrize(
    ("how", "now_reading"),
    [
        ("added as moderator", READERS | {"mia"}),
        ("added as admin", READERS | {"ada"}),
        ("promoted from editor", READERS | {"ed"}),
        ("demoted to editor", READERS - {"ivan"}),
        ("disabled", READERS - {"ivan"}),
        ("enabled again", READERS | {"dis"}),
        ("password reset by an admin", READERS),
        ("flask users reset-password", READERS),
    ],
)
def test_a_change_of_who_may_read_begins_a_new_epoch(app, runner, how, now_reading):
    made(app, *TEAM)
    with app.app_context():
        staff.set_active(user("dis"), False)
    changes = {
        "added as moderator": add("mia", "moderator"),
        "added as admin": add("ada", "admin"),
        "promoted from editor": lambda p: staff.set_role(p["ed"], "moderator", by=p["boss"]),
        "demoted to editor": lambda p: staff.set_role(p["ivan"], "editor", by=p["boss"]),
        "disabled": lambda p: staff.set_active(p["ivan"], False, by=p["boss"]),
        "enabled again": lambda p: staff.set_active(p["dis"], True, by=p["boss"]),
        "password reset by an admin": lambda p: staff.set_password(p["ivan"], NEW_PASSWORD, by=p["boss"]),
        "flask users reset-password": cli(runner, "users", "reset-password", "ivan", "--password-stdin"),
    }
    before, ivans_key = newest(app), public(app, "ivan")
    with app.app_context():
        changes[how]({person.username: person for person in db.session.scalars(select(User))})
    epoch = newest(app)
    assert epoch == before + 1
    assert holders(app, epoch) == now_reading
    for name in now_reading:
        assert opens(app, name, epoch, NEW_PASSWORD if "reset" in how and name == "ivan" else PASSWORD)
    if "ivan" not in now_reading:  # removed: every wrap of theirs is gone
        assert held(app, "ivan") == []
    if "reset" in how:  # a new pair, holding only what comes from now on
        assert public(app, "ivan") != ivans_key and held(app, "ivan") == [epoch]
    for newcomer in now_reading - READERS:
        assert held(app, newcomer) == [epoch]


@pytest.mark.parametrize(
    "how", ["added as editor", "two-step reset", "own password changed", "moderator made admin", "editor disabled"]
)
def test_a_change_that_leaves_the_readers_as_they_were_keeps_the_epoch(app, how):
    made(app, *TEAM)
    changes = {
        "added as editor": add("eve", "editor"),
        "two-step reset": lambda p: staff.reset_second_factor(p["ivan"], by=p["boss"]),
        "own password changed": lambda p: staff.change_own_password(p["ivan"], PASSWORD, NEW_PASSWORD),
        "moderator made admin": lambda p: staff.set_role(p["ivan"], "admin", by=p["boss"]),
        "editor disabled": lambda p: staff.set_active(p["ed"], False, by=p["boss"]),
    }
    before, ivans_key = newest(app), public(app, "ivan")
    wraps_before = held(app, "ivan")
    with app.app_context():
        changes[how]({person.username: person for person in db.session.scalars(select(User))})
    assert newest(app) == before
    assert public(app, "ivan") == ivans_key and held(app, "ivan") == wraps_before
    assert opens(app, "ivan", before, NEW_PASSWORD if how == "own password changed" else PASSWORD)


# The last who can read


def test_the_last_reader_cannot_be_disabled_or_demoted(app, runner):
    made(app, ("olga", "moderator"), ("ed", "editor"))
    make_user(app, "legacy", "admin")  # an admin without a key pair reads nothing, so does not count
    before = newest(app)
    with app.app_context():
        for change in (lambda: staff.set_active(user("olga"), False), lambda: staff.set_role(user("olga"), "editor")):
            with pytest.raises(staff.LastReader, match="recovery key"):
                change()
            db.session.rollback()
    result = runner.invoke(args=["users", "disable", "olga"])
    assert result.exit_code != 0
    assert "last moderator or admin" in result.output and "recovery key" in result.output
    with app.app_context():
        olga = user("olga")
        assert olga.active and olga.role == "moderator"
    assert newest(app) == before and held(app, "olga") == [before]


@pytest.mark.parametrize("app_config", [WITH_RECOVERY])
@pytest.mark.parametrize("how", ["disable", "demote", "flask users disable"])
def test_with_a_recovery_key_the_last_reader_can_go_and_the_next_epoch_is_the_recovery_keys_alone(app, runner, how):
    made(app, ("olga", "moderator"))
    before = newest(app)
    assert holders(app, before) == {"olga", "recovery"}
    if how == "flask users disable":
        assert runner.invoke(args=["users", "disable", "olga"]).exit_code == 0
    else:
        with app.app_context():
            (staff.set_active(user("olga"), False) if how == "disable" else staff.set_role(user("olga"), "editor"))
    epoch = newest(app)
    assert epoch == before + 1 and holders(app, epoch) == {"recovery"}
    assert recovery_opens(app, epoch) and recovery_opens(app, before)
    assert held(app, "olga") == []


# A fresh install


def test_the_first_reader_receives_what_a_fresh_install_sealed_before_any_account_existed(app):
    with app.app_context():
        first = epochs.current()  # a submission on a site with no staff yet (its create() commits)
        first_id, first_public = first.id, first.public_key
        db.session.commit()
        sealed = db.session.scalar(select(EpochWrap.sealed).where(EpochWrap.epoch_id == first_id))
    assert holders(app, first_id) == {"install"}
    install_key = derive_key(app.config["SECRET_KEY"], "install epoch")
    assert sodium.public_of(sodium.open_(install_key, sealed)) == first_public

    made(app, ("ed", "editor"))  # an editor reads nothing: the install's wrap stays
    assert newest(app) == first_id and holders(app, first_id) == {"install"}

    made(app, ("olga", "moderator"))
    assert holders(app, first_id) == {"olga"}  # sealed to her, the install's wrap gone
    assert opens(app, "olga", first_id)
    with app.app_context():
        assert db.session.scalar(select(EpochWrap.id).where(EpochWrap.holder == "install")) is None
        assert epochs.current().id > first_id  # and a new epoch began
    assert held(app, "olga") == [first_id, newest(app)] and holders(app, newest(app)) == {"olga"}


@pytest.mark.parametrize("app_config", [WITH_RECOVERY])
def test_with_a_recovery_key_a_fresh_install_seals_to_it_and_the_first_reader_receives_it_all_the_same(app):
    """The first moderator reads what came before them without a recovery drill; the install's wrap lasts only
    until then."""
    with app.app_context():
        first = epochs.current().id
        db.session.commit()
    assert holders(app, first) == {"recovery", "install"} and recovery_opens(app, first)
    made(app, ("olga", "moderator"))
    assert holders(app, first) == {"recovery", "olga"} and opens(app, "olga", first)


# Two instances


@pytest.fixture
def app_b(app, tmp_path):
    """A second instance of the site on the same database (another worker or server)."""
    other = make_app(tmp_path)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_no_instance_keeps_sealing_to_an_epoch_that_ended(app, app_b):
    made(app, ("olga", "moderator"), ("ivan", "moderator"))
    with app_b.app_context():
        old = epochs.current().id
    assert holders(app_b, old) == {"olga", "ivan"}
    with app.app_context():
        staff.set_active(user("ivan"), False)
    with app_b.app_context():  # B's next request
        epoch = epochs.current()
        epoch_id = epoch.id
        assert epoch_id > old and epoch_id == newest(app)
    assert holders(app_b, epoch_id) == {"olga"}
    assert opens(app_b, "olga", epoch_id)
    with app_b.app_context():
        assert not epochs.holds(user("ivan").id, epoch_id) and epochs.held(user("ivan")) == []


# Newcomers and grants


DAY = timedelta(days=1)
T0 = datetime(2026, 3, 2, 12, 0)


def made_on(app, when: datetime, name: str, role: str = "moderator") -> int:
    with time_machine.travel(when.replace(tzinfo=UTC), tick=False):
        made(app, (name, role))
    return newest(app)


def grant(app, receiver: str, since: datetime | None, giver: str) -> int:
    with app.app_context():
        giver_user = user(giver)
        secret = staffkeys.unlock(giver_user.locked_key, PASSWORD)
        return staff.grant(user(receiver), since, by=giver_user, secret=secret)


def test_a_newcomer_holds_only_the_newest_epoch_until_granted_what_the_giver_holds(app):
    e1 = made_on(app, T0, "olga")
    e2 = made_on(app, T0 + DAY, "ivan")
    e3 = made_on(app, T0 + 2 * DAY, "mia")
    e4 = made_on(app, T0 + 3 * DAY, "nina")
    assert held(app, "nina") == [e4] and held(app, "ivan") == [e2, e3, e4] and held(app, "olga") == [e1, e2, e3, e4]

    assert grant(app, "nina", None, giver="ivan") == 2  # all ivan holds: not e1, which he never held
    assert held(app, "nina") == [e2, e3, e4]
    assert grant(app, "nina", None, giver="olga") == 1
    assert held(app, "nina") == [e1, e2, e3, e4]
    assert all(opens(app, "nina", epoch) for epoch in (e1, e2, e3, e4))


def test_a_grant_since_a_date_gives_the_epochs_current_at_or_after_it(app):
    e1 = made_on(app, T0, "olga")
    e2 = made_on(app, T0 + DAY, "ivan")
    e3 = made_on(app, T0 + 2 * DAY, "mia")
    e4 = made_on(app, T0 + 3 * DAY, "zoe")
    assert grant(app, "zoe", T0 + DAY + DAY / 2, giver="olga") == 2  # e2 was current then; e3 after
    assert held(app, "zoe") == [e2, e3, e4] and e1 not in held(app, "zoe")
    assert all(opens(app, "zoe", epoch) for epoch in (e2, e3))
    assert grant(app, "zoe", T0 + DAY + DAY / 2, giver="olga") == 0  # (nothing twice)


def test_a_grant_is_refused_to_one_who_may_not_read(app):
    made(app, ("olga", "moderator"), ("ed", "editor"))
    with pytest.raises(staff.StaffError):
        grant(app, "ed", None, giver="olga")
    assert held(app, "ed") == []


# Concurrency


def test_rotations_give_increasing_ids_and_current_is_the_newest(app):
    made(app, ("olga", "moderator"))
    with app.app_context():
        first, second = epochs.rotate("test").id, epochs.rotate("test").id
        db.session.commit()
        assert first < second and epochs.current().id == second
    assert holders(app, first) == holders(app, second) == {"olga"}


def at_once(instances, times: int) -> list[str]:
    """Each instance rotates ``times`` times in a thread of its own, all starting together; the errors they met."""
    barrier = threading.Barrier(len(instances))
    errors = []

    def rotate_on(instance):
        try:
            with instance.app_context():
                barrier.wait()
                for _ in range(times):
                    epochs.rotate("test")
                    db.session.commit()
        except Exception as error:  # (the test reports it)
            errors.append(repr(error))

    threads = [threading.Thread(target=rotate_on, args=(instance,)) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_instances_rotating_at_once_each_make_a_whole_epoch(app, app_b):
    made(app, ("olga", "moderator"), ("ivan", "moderator"))
    before = newest(app)
    assert at_once([app, app_b], 5) == []
    made_now = list(range(before + 1, newest(app) + 1))
    assert len(made_now) == 10
    for epoch in made_now:
        assert holders(app, epoch) == {"olga", "ivan"}
    with app_b.app_context():
        assert epochs.current().id == made_now[-1]


def test_the_first_two_rotations_at_once_both_succeed(app, app_b):
    """The lock's row does not exist yet: both make it (on PostgreSQL a plain insert failed for one of them, at
    random: so, eight times)."""
    for _round in range(8):
        with app.app_context():  # (as on a fresh install)
            db.session.execute(delete(KeySetting))
            db.session.commit()
        assert at_once([app, app_b], 1) == []
    assert newest(app) == 16 and all(holders(app, epoch) == {"install"} for epoch in range(1, 17))
