"""Command line: flask --app wsgi users create NAME --role ROLE, demo, purge, uploads gc; crypto … is in
app/cli_crypto.py."""

import contextlib
import secrets
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from app import staff
from app.extensions import db
from app.models import User

users = AppGroup("users", help="Manage staff accounts.")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(User.ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user(username: str, role: str, password_stdin: bool) -> None:
    """Create a staff account."""
    if staff.find(username):
        raise click.ClickException(f"User {username!r} already exists.")
    with refusals():
        staff.create(username, role, read_password(password_stdin))
    click.echo(f"Created {role} {username!r}.")


def find_user(username: str) -> User:
    user = staff.find(username)
    if user is None:
        raise click.ClickException(f"No user {username!r}.")
    return user


@contextlib.contextmanager
def refusals():
    try:
        yield
    except staff.StaffError as error:
        raise click.ClickException(str(error)) from None


@users.command("disable")
@click.argument("username")
def disable_user(username: str) -> None:
    """Disable a staff account; its sessions end at once, and what is sent from then on is not sealed to it."""
    with refusals():
        staff.set_active(find_user(username), False)
    click.echo(f"Disabled {username!r}.")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password; the account's sessions end."""
    user = find_user(username)
    with refusals():
        staff.set_password(user, read_password(password_stdin))
    click.echo(f"New password set for {username!r}.")


@users.command("end-sessions")
@click.argument("username", required=False)
@click.option("--all", "everyone", is_flag=True, help="End the sessions of every staff account.")
def end_sessions(username: str | None, everyone: bool) -> None:
    """End every session of one account (a phone lost or seized), or of all staff (--all), at once."""
    if bool(username) == everyone:
        raise click.UsageError("Name one account, or give --all.")
    ended = staff.end_sessions(None if everyone else find_user(username))
    click.echo(f"Ended the sessions of {'all ' + str(ended) + ' staff accounts' if everyone else repr(username)}.")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load demo content and (re)set the demo moderator's password; print how to sign in."""
    from app.demo import load

    password = secrets.token_urlsafe(12)
    editor_password = secrets.token_urlsafe(12)
    with refusals():
        click.echo(load(moderator_password=password, editor_password=editor_password).summary())
    click.echo("")
    click.echo("  Sign in as a moderator at http://127.0.0.1:5000/auth/login")
    click.echo("    username: moderator")
    click.echo(f"    password: {password}")
    click.echo("  Write articles as an editor:")
    click.echo("    username: editor")
    click.echo(f"    password: {editor_password}")
    click.echo("  To try passkeys and security keys (/auth/keys), open http://localhost:5000 instead:")
    click.echo("    a key is tied to a name, never to an IP address.")
    click.echo("")


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete for good what has been kept long enough (see RETENTION_DAYS and friends). Run it daily."""
    from flask import current_app

    from app.submissions.retention import purge as run
    from app.uploads.stores import app_storage

    config = current_app.config
    result = run(
        app_storage(),
        retention_days=int(config["RETENTION_DAYS"]),
        ad_retention_days=int(config["AD_RETENTION_DAYS"]),
        case_retention_days=int(config["CASE_RETENTION_DAYS"]),
        event_retention_days=int(config["EVENT_RETENTION_DAYS"]),
        pending_max_days=int(config["PENDING_MAX_DAYS"]),
        case_idle_days=int(config["CASE_IDLE_DAYS"]),
    )
    click.echo(f"Purged {result.submissions} submissions, {result.files} files, {result.events} audit events.")
    click.echo(f"Erased {result.copies} public copies of ads no longer shown.")
    click.echo(f"Removed {expired_unlocks()} timed-out unlocked sessions and sign-ins.")


def expired_unlocks() -> int:
    from app.crypto import unlocking

    removed = unlocking.purge()
    db.session.commit()
    return removed


def expired_duplicate_checks() -> int:
    from app import erasure
    from app.submissions.create import forget_duplicates

    erased = forget_duplicates()
    db.session.commit()
    if erased:
        erasure.settle(["submissions"], texts=False)
    return erased


@click.command("notify")
@with_appcontext
def notify() -> None:
    """Send the staff digest ("Please check the queue") if it is due and something waits. Run it from a timer,
    every NOTIFY_EVERY_MINUTES."""
    import os

    from flask import current_app

    from app import notify as digest

    config = current_app.config
    address = (config.get("PUBLIC_URL") or config.get("ONION_URL") or "").rstrip("/")
    state = config["NOTIFY_STATE_FILE"] or os.path.join(current_app.instance_path, "notify.json")
    result = digest.run(config, f"{address}/moderation" if address else "", state)  # (no address: no link)
    click.echo(f"Digest: {result.reason}{': sent by ' + ', '.join(result.channels) if result.channels else ''}.")


uploads = AppGroup("uploads", help="Stored attachments.")


@uploads.command("gc")
@click.option("--min-age", default=3600, show_default=True, help="Leave files younger than this many seconds.")
def uploads_gc(min_age: int) -> None:
    """Remove stored files that no attachment names, and uploads that expired unsent; report attachments whose
    file is missing. Run it hourly."""
    from app.uploads.gc import collect
    from app.uploads.stores import resumable_store

    report = collect(db.session, min_age=min_age)
    click.echo(f"Removed {report.removed} orphan files and {report.leftovers} unfinished writes.")
    click.echo(f"Removed {resumable_store().collect()} expired or unsent uploads.")
    click.echo(f"Removed {report.work_folders} work folders left by a stopped worker.")
    click.echo(f"Removed {expired_unlocks()} timed-out unlocked sessions and sign-ins.")
    click.echo(f"Erased {expired_duplicate_checks()} expired duplicate checks.")
    for attachment_id in report.missing:
        click.echo(f"Missing file for attachment {attachment_id}.")


def register(app: Flask) -> None:
    from app import cli_crypto  # (it builds on the helpers above)

    app.cli.add_command(users)
    app.cli.add_command(cli_crypto.crypto)
    app.cli.add_command(demo)
    app.cli.add_command(purge)
    app.cli.add_command(notify)
    app.cli.add_command(uploads)
