"""The recovery key and `flask crypto` (issue 24, items 5 and 6): a key made offline, the drill (every staff wrap
gone; recover on a copy, import, read), and older epochs given from the command line with a holder's password."""

import base64
import json
import os
import stat
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import delete, event, func, select

from app import staff
from app.crypto import epochs, sodium
from app.extensions import db
from app.models import EpochWrap, Event, KeySetting, QueueEpoch
from tests.helpers import PASSWORD, make_app

RECOVERY = sodium.new_pair()
OTHER = sodium.new_pair()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def app_config():
    return {"RECOVERY_PUBLIC_KEY": b64(RECOVERY.public)}


def staff_made(app, *accounts):
    """Create (name, role) accounts as `flask users create` does, each a new epoch if it may read."""
    with app.app_context():
        for username, role in accounts:
            staff.create(username, role, PASSWORD)


def recover(runner, tmp_path, secret=RECOVERY.secret, to="anna", name="grants.json"):
    path = tmp_path / name
    args = ["crypto", "recover", "--to", to, "--out", str(path), "--secret-stdin"]
    return runner.invoke(args=args, input=b64(secret) + "\n"), path


def held(app, username):
    with app.app_context():
        return epochs.held(staff.find(username))


def all_epochs(app):
    with app.app_context():
        return list(db.session.scalars(select(QueueEpoch.id).order_by(QueueEpoch.id)))


def every_row(app):
    """Every row of every table, to compare before and after."""
    with app.app_context():
        return {
            table.name: sorted(map(repr, db.session.execute(select(table)).all()))
            for table in db.metadata.sorted_tables
        }


def test_keygen_prints_a_usable_pair_and_reads_no_database(app, runner):
    statements = []

    def seen(connection, cursor, statement, *rest):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = runner.invoke(args=["crypto", "recovery-keygen"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    public = epochs.parse_public(lines["Public key (PRYSTAN_RECOVERY_PUBLIC_KEY)"])
    secret = base64.b64decode(lines["Secret key"])
    assert sodium.public_of(secret) == public
    assert lines["Fingerprint"] == sodium.fingerprint(public)
    assert "never on the server" in result.output and "paper" in result.output
    assert statements == []
    again = runner.invoke(args=["crypto", "recovery-keygen"])
    assert lines["Secret key"] not in again.output


def test_the_drill_every_staff_wrap_gone_recover_import_read(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"), ("boris", "moderator"), ("vera", "moderator"), ("petr", "editor"))
    with app.app_context():
        staff.set_active(staff.find("vera"), False)
        epochs.current()
    made = all_epochs(app)
    assert len(made) == 4  # anna, boris, vera added; vera disabled (an editor reads nothing: no epoch)
    with app.app_context():
        db.session.execute(delete(EpochWrap).where(EpochWrap.holder == "staff"))
        db.session.commit()
    assert held(app, "anna") == []

    result, path = recover(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert "4 epochs sealed to 'anna'" in result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["user"] == "anna"
    assert [grant["epoch"] for grant in data["grants"]] == made

    imported = runner.invoke(args=["crypto", "import-grants", str(path)])
    assert imported.exit_code == 0, imported.output
    assert "Gave 'anna' 4 epochs (0 it held already)" in imported.output
    with app.app_context():
        anna = staff.find("anna")
        key = staff.open_key(anna, PASSWORD)
        for epoch in db.session.scalars(select(QueueEpoch)):
            secret = epochs.open_epoch(anna, key, epoch.id)
            assert secret is not None and sodium.public_of(secret) == epoch.public_key
        audit = db.session.scalars(select(Event).where(Event.action == "grants_imported")).one()
        assert audit.actor_id is None and audit.detail == f"user {anna.id}: 4 epochs"
        assert epochs.held(staff.find("boris")) == []  # only the account named receives
    again = runner.invoke(args=["crypto", "import-grants", str(path)])
    assert "Gave 'anna' 0 epochs (4 it held already)" in again.output


def test_the_drill_signs_the_admin_in_to_an_unlocked_session_that_opens_every_epoch(app, runner, client, tmp_path):
    from app.crypto import unlocking

    staff_made(app, ("anna", "admin"), ("boris", "moderator"))
    with app.app_context():
        db.session.execute(delete(EpochWrap).where(EpochWrap.holder == "staff"))
        db.session.commit()
    _, path = recover(runner, tmp_path)
    assert runner.invoke(args=["crypto", "import-grants", str(path)]).exit_code == 0
    assert client.post("/auth/login", data={"username": "anna", "password": PASSWORD}).status_code == 303
    with client.session_transaction() as session:
        token = session["unlock"]
    with app.app_context():
        anna = staff.find("anna")
        key = unlocking.staff_secret(anna, token)
        opened = [epochs.open_epoch(anna, key, epoch_id) for epoch_id in all_epochs(app)]
    assert len(opened) == 2 and None not in opened


def test_recover_refuses_a_wrong_secret_and_writes_no_file(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"))
    result, path = recover(runner, tmp_path, secret=OTHER.secret)
    assert result.exit_code != 0
    assert "not the recovery key this database was sealed to" in result.output
    assert sodium.fingerprint(RECOVERY.public) in result.output
    assert not path.exists()
    typo, path = recover(runner, tmp_path, secret=b"short")
    assert typo.exit_code != 0 and "not a recovery secret key" in typo.output and not path.exists()


def test_recover_refuses_an_account_that_may_not_read(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"), ("petr", "editor"))
    editor, path = recover(runner, tmp_path, to="petr")
    assert editor.exit_code != 0 and "may not be given epochs" in editor.output and not path.exists()
    unknown, path = recover(runner, tmp_path, to="nobody")
    assert unknown.exit_code != 0 and "No user 'nobody'" in unknown.output and not path.exists()


def test_recover_leaves_a_file_already_there_as_it_is(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"))
    (tmp_path / "grants.json").write_text("keep me")
    result, path = recover(runner, tmp_path)
    assert result.exit_code != 0 and "exists already" in result.output
    assert path.read_text() == "keep me"


def test_recover_writes_nothing_to_the_database(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"), ("boris", "moderator"))
    before = every_row(app)
    result, _ = recover(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert every_row(app) == before


def test_recover_names_the_epochs_the_recovery_key_never_held(app, app_config, runner, tmp_path):
    app.config["RECOVERY_PUBLIC_KEY"] = ""
    staff_made(app, ("anna", "admin"))
    app.config["RECOVERY_PUBLIC_KEY"] = app_config["RECOVERY_PUBLIC_KEY"]
    staff_made(app, ("boris", "moderator"))
    result, path = recover(runner, tmp_path)
    assert result.exit_code == 0, result.output
    first, second = all_epochs(app)
    assert "1 epoch sealed" in result.output
    assert f"not recovered: epochs {first}." in result.output
    assert [grant["epoch"] for grant in json.loads(path.read_text())["grants"]] == [second]


def test_recover_refuses_a_database_no_recovery_key_was_used_with(app, runner, tmp_path):
    app.config["RECOVERY_PUBLIC_KEY"] = ""
    staff_made(app, ("anna", "admin"))
    result, path = recover(runner, tmp_path)
    assert result.exit_code != 0 and "No recovery key was ever used" in result.output and not path.exists()


def test_import_refuses_grants_for_an_account_whose_key_changed(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"), ("boris", "moderator"))
    result, path = recover(runner, tmp_path)
    assert result.exit_code == 0, result.output
    with app.app_context():
        staff.set_password(staff.find("anna"), "a new password for anna")  # (an admin's reset: a new pair)
    before = held(app, "anna")
    refused = runner.invoke(args=["crypto", "import-grants", str(path)])
    assert refused.exit_code != 0 and "key changed since" in refused.output
    assert held(app, "anna") == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Event.action == "grants_imported")) == 0


def test_import_refuses_a_file_that_is_not_grants(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"))
    _, path = recover(runner, tmp_path)
    data = json.loads(path.read_text())
    data["grants"][0]["sealed"] = b64(b"x" * 10)
    path.write_text(json.dumps(data))
    refused = runner.invoke(args=["crypto", "import-grants", str(path)])
    assert refused.exit_code != 0 and "not a grants file" in refused.output
    path.write_text("not json")
    assert "not a grants file" in runner.invoke(args=["crypto", "import-grants", str(path)]).output


def grant(runner, receiver, *options, password=PASSWORD, holder="anna"):
    args = ["crypto", "grant", receiver, "--from", holder, "--password-stdin", *options]
    return runner.invoke(args=args, input=password + "\n")


def test_grant_with_the_holders_password_gives_the_older_epochs(app, runner):
    staff_made(app, ("anna", "admin"), ("boris", "moderator"), ("olga", "moderator"))
    assert held(app, "olga") == all_epochs(app)[-1:]  # a newcomer reads what arrives after it
    result = grant(runner, "olga")
    assert result.exit_code == 0, result.output
    assert "Gave 'olga' 2 epochs that 'anna' holds" in result.output
    assert held(app, "olga") == all_epochs(app)
    with app.app_context():
        audit = db.session.scalars(select(Event).where(Event.action == "epochs_granted")).one()
        assert audit.actor_id == staff.find("anna").id


def test_grant_asks_for_the_holder_and_the_password_when_not_given(app, runner):
    staff_made(app, ("anna", "admin"), ("olga", "moderator"))
    result = runner.invoke(args=["crypto", "grant", "olga"], input=f"anna\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # (typed hidden)
    assert held(app, "olga") == all_epochs(app)


def test_grant_refuses_a_wrong_password_unknown_names_and_a_receiver_that_may_not_read(app, runner):
    staff_made(app, ("anna", "admin"), ("olga", "moderator"), ("petr", "editor"))
    before = held(app, "olga")
    wrong = grant(runner, "olga", password="not anna's password")
    assert wrong.exit_code != 0 and "Wrong password for 'anna'" in wrong.output
    assert held(app, "olga") == before
    nobody = grant(runner, "nobody")
    assert nobody.exit_code != 0 and "No user 'nobody'" in nobody.output
    no_holder = grant(runner, "olga", holder="nobody")
    assert no_holder.exit_code != 0 and "No user 'nobody'" in no_holder.output
    editor = grant(runner, "petr")
    assert editor.exit_code != 0 and "may not be given epochs" in editor.output
    holds_nothing = grant(runner, "olga", holder="petr")
    assert holds_nothing.exit_code != 0 and "holds no epochs" in holds_nothing.output
    assert held(app, "olga") == before


def test_grant_since_a_day_gives_only_the_epochs_current_from_then(app, runner):
    with time_machine.travel(datetime(2024, 1, 1, 12), tick=False):
        staff_made(app, ("anna", "admin"))
    with time_machine.travel(datetime(2024, 1, 10, 12), tick=False):
        staff_made(app, ("boris", "moderator"))
    with time_machine.travel(datetime(2024, 1, 20, 12), tick=False):
        staff_made(app, ("olga", "moderator"))
    _, second, third = all_epochs(app)
    result = grant(runner, "olga", "--since", "2024-01-15")
    assert result.exit_code == 0, result.output
    assert held(app, "olga") == [second, third]  # the second was current on the 15th; the first had ended
    bad = grant(runner, "olga", "--since", "15.01.2024")
    assert bad.exit_code != 0


def test_use_recovery_key_switches_the_kept_fingerprint_and_drops_the_old_wraps(app, runner, tmp_path):
    staff_made(app, ("anna", "admin"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(EpochWrap.holder == "recovery")) == 1
    same = runner.invoke(args=["crypto", "use-recovery-key", "--yes"])
    assert same.exit_code != 0 and "already the one in use" in same.output

    app.config["RECOVERY_PUBLIC_KEY"] = b64(OTHER.public)
    declined = runner.invoke(args=["crypto", "use-recovery-key"], input="n\n")
    assert declined.exit_code != 0 and sodium.fingerprint(OTHER.public) in declined.output
    with app.app_context():
        assert db.session.get(KeySetting, "recovery_fingerprint").value == sodium.fingerprint(RECOVERY.public)

    result = runner.invoke(args=["crypto", "use-recovery-key"], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"now {sodium.fingerprint(OTHER.public)}" in result.output
    with app.app_context():
        assert db.session.get(KeySetting, "recovery_fingerprint").value == sodium.fingerprint(OTHER.public)
        assert db.session.scalar(select(func.count()).where(EpochWrap.holder == "recovery")) == 0
    # From now on the new key is sealed to, and the old secret opens nothing.
    staff_made(app, ("boris", "moderator"))
    assert recover(runner, tmp_path, name="old.json")[0].exit_code != 0
    result, _ = recover(runner, tmp_path, secret=OTHER.secret)
    assert result.exit_code == 0 and "1 epoch sealed" in result.output


def test_use_recovery_key_refuses_when_none_is_configured(app, runner):
    app.config["RECOVERY_PUBLIC_KEY"] = ""
    result = runner.invoke(args=["crypto", "use-recovery-key", "--yes"])
    assert result.exit_code != 0 and "No recovery key is configured" in result.output


def test_a_recovery_key_that_is_not_one_stops_the_site_from_starting(tmp_path):
    """A mistyped PRYSTAN_RECOVERY_PUBLIC_KEY would leave every epoch unsealed to it without a word: refused."""
    with pytest.raises(RuntimeError, match="PRYSTAN_RECOVERY_PUBLIC_KEY is not a public key"):
        make_app(tmp_path, RECOVERY_PUBLIC_KEY="not-a-key")
