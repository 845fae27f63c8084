"""Command line: flask --app wsgi users create NAME --role ROLE, demo, purge, uploads gc, crypto …."""

import contextlib
import secrets
import sys
from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from app import staff
from app.crypto import recovery
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


crypto = AppGroup("crypto", help="The keys that seal what is sent: the recovery key, and older items given.")


@contextlib.contextmanager
def recovery_refusals():
    try:
        yield
    except recovery.RecoveryError as error:
        raise click.ClickException(str(error)) from None


def counted(epochs: int) -> str:
    return f"{epochs} epoch" if epochs == 1 else f"{epochs} epochs"


@crypto.command("recovery-keygen", with_appcontext=False)
def recovery_keygen() -> None:
    """Make a recovery key pair (on an admin's own machine: no database is read)."""
    key = recovery.keygen()
    click.echo("Run this on an admin's own machine, never on the server.")
    click.echo("Write the secret key on paper, or keep it on an encrypted USB stick: never on the server.")
    click.echo("It is shown once. Whoever holds it, with a copy of the database, can open everything sealed to it.")
    click.echo("")
    click.echo(f"Public key (PRYSTAN_RECOVERY_PUBLIC_KEY): {key.public}")
    click.echo(f"Fingerprint: {key.fingerprint}")
    click.echo(f"Secret key: {key.secret}")


@crypto.command("recover")
@click.option("--to", "username", required=True, help="The moderator or admin the epochs are sealed to.")
@click.option("--out", "path", required=True, type=click.Path(dir_okay=False), help="The grants file to write.")
@click.option("--secret-stdin", is_flag=True, help="Read the recovery secret key from the first line of stdin.")
def recover(username: str, path: str, secret_stdin: bool) -> None:
    """On a copy of the database, elsewhere: seal every epoch to one account with the recovery secret, as a file
    for import-grants. Writes nothing to the database."""
    text = sys.stdin.readline() if secret_stdin else click.prompt("Recovery secret key", hide_input=True)
    with recovery_refusals():
        found = recovery.recover(recovery.parse_secret(text), username)
        recovery.write_grants(path, found)
    click.echo(f"Wrote {path}: {counted(len(found.grants))} sealed to {username!r}. Load it on the server with")
    click.echo(f"  flask crypto import-grants {path}")
    if found.not_recoverable:
        missing = ", ".join(str(epoch_id) for epoch_id in found.not_recoverable)
        click.echo(f"Not sealed to the recovery key, so not recovered: epochs {missing}.")


@crypto.command("import-grants")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_grants(path: str) -> None:
    """On the server: give an account the epochs of a grants file that recover wrote."""
    with recovery_refusals():
        grants = recovery.read_grants(path)
        added = recovery.import_grants(grants)
    click.echo(f"Gave {grants.user!r} {counted(added)} ({len(grants.grants) - added} it held already).")


@crypto.command("grant")
@click.argument("username")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only epochs current on or after this day (where the site is).",
)
@click.option("--from", "holder_name", help="A moderator or admin who holds the epochs (asked if not given).")
@click.option("--password-stdin", is_flag=True, help="Read the holder's password from the first line of stdin.")
def grant(username: str, since: datetime | None, holder_name: str | None, password_stdin: bool) -> None:
    """Give an account the older epochs (all, or since a day) that another one holds, with that one's password."""
    receiver = find_user(username)
    if not staff.may_receive(receiver):
        raise click.ClickException(
            f"{username!r} is not an active moderator or admin with a key pair and a password of its own: "
            "it may not be given epochs."
        )
    holder = find_user(holder_name or click.prompt("Who holds the epochs (a moderator or admin)"))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(f"Password of {holder.username!r}", hide_input=True)
    with recovery_refusals():
        secret = recovery.unlock_holder(holder, password)
    if since is not None:  # the start of that day where the site is, as /admin/users takes it
        from flask_babel import to_utc

        from app.crypto.epochs import EARLIEST_DAY

        since = to_utc(max(since, datetime.combine(EARLIEST_DAY, datetime.min.time())))
    with refusals():
        given = staff.grant(receiver, since, by=holder, secret=secret)
    click.echo(f"Gave {username!r} {counted(given)} that {holder.username!r} holds.")


@crypto.command("use-recovery-key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def use_recovery_key(yes: bool) -> None:
    """Use the recovery key now configured (PRYSTAN_RECOVERY_PUBLIC_KEY) in place of the one kept here."""
    with recovery_refusals():
        shown = recovery.replacement()
        if not yes:
            click.confirm(
                f"Use the recovery key {shown} from now on? What is sealed to the old one is deleted here.", abort=True
            )
        recovery.use_configured_key()
    click.echo(f"The recovery key in use is now {shown}.")
    click.echo("The older epochs are sealed to it at the next request of a signed-in admin.")


SEALED_TABLES = ("submissions", "messages", "attachments", "notes", "reports")


@crypto.command("migrate")
@click.option("--batch", default=100, show_default=True, help="Rows read at a time.")
@click.option(
    "--pause", default=0.0, show_default=True, help="Seconds to leave the database to the site between batches."
)
@click.option(
    "--vacuum-full/--no-vacuum-full",
    default=None,
    help="PostgreSQL: rewrite the sealed tables afterwards, locking each while it runs (asked if not given).",
)
def migrate_sealed(batch: int, pause: float, vacuum_full: bool | None) -> None:
    """Seal what was stored before sealing (items, messages, files, notes), with the site up; safe to stop and run
    again. Then remove the clear words from the database files."""
    from app import erasure
    from app.submissions import migrate
    from app.uploads.gc import collect
    from app.uploads.stores import app_storage

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "nothing"

    click.echo(f"In clear: {listed(migrate.in_clear())}.")
    done = migrate.run(app_storage(), batch=batch, pause=pause, progress=click.echo)
    click.echo(
        f"Sealed {done.items} items, {done.messages} messages, {done.attachments} files' names "
        f"({done.stored} stored files and previews encrypted, their clear copies deleted), "
        f"{done.notes} notes and {done.reports} report notes."
    )
    if done.missing:
        click.echo(f"{done.missing} stored files or previews were missing already (see flask uploads gc).")
    left = migrate.in_clear()
    click.echo(
        f"Left in clear: {listed(left)}." + (" (Changed while this ran: run it again.)" if any(left.values()) else "")
    )
    click.echo(f"Removed {collect(db.session, min_age=3600).removed} stored files that no row names.")
    click.echo(
        f"Old receipts not used since sealing began: {migrate.old_receipts()}. Each keeps its old digest, as weak as "
        "before, until its holder uses it (SECURITY.md)."
    )
    if db.session.get_bind().dialect.name == "sqlite":
        click.echo("Rebuilding the database file (VACUUM); the site waits for it meanwhile.")
        frames = erasure.compact(SEALED_TABLES, full=True)
        click.echo(
            "Done: no clear words left in the database file or its log."
            if not frames
            else (f"{frames} pages of the log could not be written back while the site was reading: run it again.")
        )
        return
    if vacuum_full is None:
        click.echo(
            "PostgreSQL keeps the clear rows' old versions in its table files until VACUUM FULL rewrites them. "
            f"It locks {', '.join(SEALED_TABLES)} one after the other while it runs: forms, /status and the queue "
            "wait (about a minute per 100,000 items: bench/RESULTS.md). Run it in a maintenance window."
        )
        vacuum_full = sys.stdin.isatty() and click.confirm("Run VACUUM FULL now?", default=False)
    if vacuum_full:
        erasure.compact(SEALED_TABLES, full=True)
        click.echo("VACUUM FULL done: the tables were rewritten.")
    else:
        erasure.compact(SEALED_TABLES, full=False)
        click.echo("Not rewritten yet: run `flask crypto migrate --vacuum-full` in a maintenance window.")


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(crypto)
    app.cli.add_command(demo)
    app.cli.add_command(purge)
    app.cli.add_command(notify)
    app.cli.add_command(uploads)
