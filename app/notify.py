"""The staff digest: a message that says only "Please check the queue", by e-mail and/or a Telegram bot posting to a
private staff chat, sent by `flask notify` (a timer runs it) at most every NOTIFY_EVERY_MINUTES.

It goes when something waits: a new item, a submitter's answer, an open case that has just passed
NOTIFY_CASE_AGE_DAYS, or an item that has just entered its last week before it is deleted
(app/submissions/clocks.py). With NOTIFY_ALWAYS it goes on every interval whether or not anything waits, so that
neither its timing nor its text tells anything (as SecureDrop's daily notification). It never holds a count, a
kind, a text, a username or a link beyond the queue's address. Recipients and the bot's token live in settings,
never in the database, and never in a log line (the token sits in the Bot API's URL path: errors are logged by kind
only).

What was last seen is kept in the instance folder (notify.json): when the digest was last sent and last checked,
and the newest audit event seen then.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, Submission
from app.submissions import clocks

log = logging.getLogger(__name__)
TEXT = "Please check the queue"
WAKING = ("submitted", "answered", "resubmitted")  # what a submitter does that staff should see


@dataclass
class Sent:
    reason: str  # "new", "always", or why nothing was sent: "not due", "nothing waits", "no channel"
    channels: list[str]


def load_state(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def save_state(path: str, state: dict) -> None:
    with open(path + ".new", "w") as f:
        json.dump(state, f)
    os.replace(path + ".new", path)


def as_utc(timestamp: float) -> datetime:
    """A timestamp as the naive UTC the database keeps."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def waiting(since_event: int, since: float | None, case_age_days: int, now: float) -> bool:
    """Did a submitter do anything after audit event ``since_event``, or did an open case pass its age between
    the last check (``since``, a timestamp; None: never checked) and ``now``?"""
    newer = select(Event.id).where(Event.id > since_event, Event.action.in_(WAKING)).limit(1)
    if db.session.scalar(newer) is not None:
        return True
    age = timedelta(days=case_age_days)
    current = as_utc(now)
    crossed = select(Submission.id).where(
        Submission.kind != "ad",
        Submission.status == "approved",
        Submission.done_at.is_(None),
        func.coalesce(Submission.decided_at, Submission.created_at) <= current - age,
    )
    if since is not None:
        crossed = crossed.where(func.coalesce(Submission.decided_at, Submission.created_at) > as_utc(since) - age)
    if db.session.scalar(crossed.limit(1)) is not None:
        return True
    # An item that entered its last week before `flask purge` deletes it (clocks.py).
    closing = select(Submission.id).where(clocks.entered_last_week(None if since is None else as_utc(since), current))
    return db.session.scalar(closing.limit(1)) is not None


def run(config, queue_url: str, state_file: str, *, now: float | None = None) -> Sent:
    """Send the digest if it is due and something waits (or always, with NOTIFY_ALWAYS); record what was seen."""
    now = now or time.time()
    channels = configured_channels(config)
    if not channels:
        return Sent("no channel", [])
    state = load_state(state_file)
    every = int(config["NOTIFY_EVERY_MINUTES"]) * 60
    slack = min(300, every // 10)  # (a timer fires a little early or late: a late one must not skip an interval)
    if state.get("sent") and now - state["sent"] < every - slack:
        return Sent("not due", [])
    newest = db.session.scalar(select(func.max(Event.id))) or 0
    seen = {"event": newest, "checked": now}
    always = bool(config.get("NOTIFY_ALWAYS"))
    age = int(config["NOTIFY_CASE_AGE_DAYS"])
    if not always and not waiting(state.get("event", 0), state.get("checked"), age, now):
        save_state(state_file, state | seen)
        return Sent("nothing waits", [])
    text = f"{TEXT}: {queue_url}" if queue_url.startswith(("https://", "http://")) else TEXT
    delivered = [name for name in channels if SENDERS[name](config, text)]
    save_state(state_file, seen | {"sent": now})
    return Sent("always" if always else "new", delivered)


def configured_channels(config) -> list[str]:
    channels = []
    if config.get("NOTIFY_EMAIL_TO") and config.get("SMTP_HOST"):
        channels.append("email")
    if config.get("NOTIFY_TELEGRAM_TOKEN") and config.get("NOTIFY_TELEGRAM_CHAT_ID"):
        channels.append("telegram")
    return channels


def send_email(config, text: str) -> bool:
    message = EmailMessage()
    message["Subject"] = TEXT
    message["From"] = config["NOTIFY_EMAIL_FROM"] or config["NOTIFY_EMAIL_TO"].split(",")[0].strip()
    message["To"] = ", ".join(a.strip() for a in config["NOTIFY_EMAIL_TO"].split(",") if a.strip())
    message["Date"] = email.utils.formatdate()  # (no Message-ID: the default one names this server's host)
    message.set_content(text + "\n")
    try:
        # Relays copy the EHLO name into the mail's Received: header: never this machine's name or address, which
        # smtplib would send by default (its fully qualified name, or its address on the relay's network).
        helo = config.get("SMTP_HELO_NAME") or "localhost"
        with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), local_hostname=helo, timeout=30) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.error("notify: e-mail not sent (%s)", type(error).__name__)
        return False
    return True


def send_telegram(config, text: str) -> bool:
    """Bot API sendMessage to the staff chat. The token is in the URL's path: no error message may name it."""
    url = f"{config['TELEGRAM_API_URL'].rstrip('/')}/bot{config['NOTIFY_TELEGRAM_TOKEN']}/sendMessage"
    body = urllib.parse.urlencode({"chat_id": config["NOTIFY_TELEGRAM_CHAT_ID"], "text": text}).encode()
    try:
        # S310: the operator's configured Telegram API address (https://api.telegram.org by default), never a visitor's.
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as response:  # noqa: S310
            ok = json.loads(response.read() or b"{}").get("ok") is True
    except urllib.error.HTTPError as error:
        log.error("notify: Telegram refused the message (HTTP %d)", error.code)
        return False
    except (OSError, ValueError) as error:
        log.error("notify: Telegram not reached (%s)", type(error).__name__)
        return False
    if not ok:
        log.error("notify: Telegram did not accept the message")
    return ok


SENDERS = {"email": send_email, "telegram": send_telegram}
