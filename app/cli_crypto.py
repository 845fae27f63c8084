"""Command line, the keys that seal what is sent (flask --app wsgi crypto …): the recovery key, grants of older
epochs, and sealing what a site stored before sealing (migrate)."""

import contextlib
import sys
from datetime import datetime

import click
from flask.cli import AppGroup

from app import staff
from app.cli import find_user, refusals
from app.crypto import recovery
from app.extensions import db

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


SEALED_TABLES = ("submissions", "messages", "attachments", "notes", "reports", "public_ads", "receipt_rekeys")


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
    from app.submissions import migrate
    from app.uploads.gc import collect
    from app.uploads.stores import app_storage

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "nothing"

    from app.crypto import epochs

    if not epochs.readers():
        raise click.ClickException(
            "No moderator or admin has a key pair yet, so what this seals would open with PRYSTAN_SECRET_KEY until "
            "one has. Have one sign in once (or make one with `flask users create`), then run this again."
        )

    click.echo(f"In clear: {listed(migrate.in_clear())}.")
    done = migrate.run(app_storage(), batch=batch, pause=pause, progress=click.echo)
    click.echo(
        f"Sealed {done.items} items, {done.messages} messages, {done.attachments} files' names "
        f"({done.stored} stored files and previews encrypted, their clear copies deleted), "
        f"{done.notes} notes and {done.reports} report notes."
    )
    if done.missing:
        click.echo(f"{done.missing} stored files or previews were missing already (see flask uploads gc).")
    if done.failed:
        click.echo("The store failed while some files were read or written: they stay in clear for now.")
    left = migrate.in_clear()
    click.echo(f"Left in clear: {listed(left)}." + (" Run this again." if any(left.values()) else ""))
    click.echo(f"Removed {collect(db.session, min_age=3600).removed} stored files that no row names.")
    click.echo(
        f"Old receipts not used since sealing began: {migrate.old_receipts()}. Each keeps its old digest, as weak as "
        "before, until its holder uses it (SECURITY.md)."
    )
    if not compact(vacuum_full) or any(left.values()):
        raise click.exceptions.Exit(1)


def compact(vacuum_full: bool | None) -> bool:
    """The database files, rid of the clear words that sealing in place left behind (True when done)."""
    from app import erasure

    if db.session.get_bind().dialect.name == "sqlite":
        click.echo("Rebuilding the database file (VACUUM); the site waits for it meanwhile.")
        if erasure.compact(SEALED_TABLES, full=True):
            click.echo("Done: no clear words left in the database file or its log.")
            return True
        click.echo("The site was writing or reading meanwhile: the file could not be cleared at once. Run this again.")
        return False
    if vacuum_full is None:
        click.echo(
            "PostgreSQL keeps the clear rows' old versions in its table files until VACUUM FULL rewrites them. "
            f"It locks {', '.join(SEALED_TABLES)} one after the other while it runs: forms, /status and the queue "
            "wait (about a second per 100,000 items here, more for longer texts: bench/RESULTS.md). Run it in a "
            "maintenance window."
        )
        vacuum_full = sys.stdin.isatty() and click.confirm("Run VACUUM FULL now?", default=False)
    if not vacuum_full:
        erasure.compact(SEALED_TABLES, full=False)
        click.echo("Not rewritten yet: run `flask crypto migrate --vacuum-full` in a maintenance window.")
        return True
    if erasure.compact(SEALED_TABLES, full=True):
        click.echo("VACUUM FULL done: the tables were rewritten.")
        return True
    click.echo("Some table stayed locked by another transaction, and was not rewritten: run this again.")
    return False
