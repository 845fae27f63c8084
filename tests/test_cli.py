"""Command line: staff accounts and demo content."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import Article, Submission, User
from app.passwords import verify


def test_users_create_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(
        args=["users", "create", "olga", "--role", "editor", "--password-stdin"], input="a long enough password\n"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "olga"))
        assert user.role == "editor"
        assert user.password_hash.startswith("$argon2id$")
        assert verify(user.password_hash, "a long enough password")
        assert "a long enough password" not in user.password_hash


def test_users_create_refuses_short_passwords_duplicates_and_unknown_roles(app, runner):
    short = runner.invoke(args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 12" in short.output
    runner.invoke(args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="x" * 12 + "\n")
    again = runner.invoke(args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="y" * 12)
    assert again.exit_code != 0 and "already exists" in again.output
    role = runner.invoke(args=["users", "create", "ivan", "--role", "god", "--password-stdin"], input="x" * 12)
    assert role.exit_code != 0


def test_demo_remakes_its_content_and_prints_a_working_sign_in(app, runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    password = first.output.split("password: ")[1].split()[0]
    assert "username: moderator" in first.output and "/auth/login" in first.output
    second = runner.invoke(args=["demo"])
    assert "10 items (re)made (10 of an earlier run erased); articles already present" in second.output
    with app.app_context():
        statuses = [s.status for s in db.session.scalars(select(Submission))]
        assert statuses.count("pending") == 5 and statuses.count("approved") == 5
        case = db.session.scalars(select(Submission).where(Submission.done_at.is_(None), Submission.kind != "ad"))
        (open_case,) = [s for s in case if s.status == "approved"]
        assert open_case.messages and open_case.notes and open_case.assigned_to.username == "moderator"
        assert db.session.scalar(select(func.count()).select_from(Article)) == 3
    # The demo ads and articles are on the public pages.
    assert "Winter clothes and a pram" in client.get("/ads").get_data(as_text=True)
    assert "The first week after release" in client.get("/articles").get_data(as_text=True)
    editor_password = second.output.split("password: ")[2].split()[0]
    assert client.post("/auth/login", data={"username": "editor", "password": editor_password}).status_code == 303
    client.post("/auth/logout")
    # Only the newest printed password works.
    new_password = second.output.split("password: ")[1].split()[0]
    assert client.post("/auth/login", data={"username": "moderator", "password": password}).status_code == 422
    response = client.post("/auth/login", data={"username": "moderator", "password": new_password})
    assert response.status_code == 303


def test_login_answers_every_failure_with_one_message(app, runner, client):
    runner.invoke(args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="x" * 12 + "\n")
    wrong_password = client.post("/auth/login", data={"username": "olga", "password": "y" * 12})
    unknown_user = client.post("/auth/login", data={"username": "nobody", "password": "y" * 12})
    for response in (wrong_password, unknown_user):
        assert response.status_code == 422
        assert "Wrong username, password or code." in response.get_data(as_text=True)


def test_logout_ends_the_session_on_the_server(app, runner, client):
    runner.invoke(args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="x" * 12 + "\n")
    client.post("/auth/login", data={"username": "olga", "password": "x" * 12})
    stolen = client.get_cookie("prystan_session").value
    assert "Sign out (olga)" in client.get("/").get_data(as_text=True)
    client.post("/auth/logout")
    assert "Sign out" not in client.get("/").get_data(as_text=True)
    # The cookie taken before sign-out no longer signs anyone in.
    thief = app.test_client()
    thief.set_cookie("prystan_session", stolen)
    assert "Sign out" not in thief.get("/").get_data(as_text=True)


def test_the_command_line_changes_accounts_like_the_admin_page_and_records_it(app, runner, client):
    """One place makes and changes staff accounts (app/staff.py): the CLI writes the same audit events."""
    from app.models import Event
    from tests.helpers import login

    runner.invoke(
        args=["users", "create", "olga", "--role", "moderator", "--password-stdin"], input="a long enough password\n"
    )
    assert login(client, "olga", "a long enough password").status_code == 303
    assert runner.invoke(args=["users", "reset-password", "olga", "--password-stdin"], input="short\n").exit_code != 0
    assert (
        runner.invoke(
            args=["users", "reset-password", "olga", "--password-stdin"], input="another long password\n"
        ).exit_code
        == 0
    )
    assert client.get("/moderation").status_code == 302  # the reset ended the session
    runner.invoke(args=["users", "create", "pavel", "--role", "admin", "--password-stdin"], input="a long enough one\n")
    assert runner.invoke(args=["users", "disable", "olga"]).exit_code == 0
    with app.app_context():
        details = db.session.scalars(
            select(Event.detail).where(Event.action.in_(["user_created", "user_changed"])).order_by(Event.id)
        ).all()
    assert details == ["user 1 as moderator", "user 1: password reset", "user 2 as admin", "user 1: disabled"]


def test_gc_and_purge_delete_timed_out_unlocked_sessions(app, runner, client):
    """A session nobody came back to: its unlocked key goes within the hour (flask uploads gc), not at the next
    sign-in that may never come."""
    from datetime import timedelta

    import time_machine

    from app.models import UnlockedSession, utcnow
    from tests.helpers import login, make_user

    make_user(app, "olga", "moderator")
    assert login(client).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UnlockedSession)) == 1
    with time_machine.travel(utcnow() + timedelta(seconds=app.config["IDLE_TIMEOUT"] + 1), tick=False):
        assert "Removed 1 timed-out unlocked sessions" in runner.invoke(args=["uploads", "gc"]).output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UnlockedSession)) == 0
    assert "Removed 0 timed-out unlocked sessions" in runner.invoke(args=["purge"]).output
