"""The staff digest (`flask notify`): one fixed sentence and the queue's address, by a real SMTP server (aiosmtpd,
started here) and by a local HTTP server standing in for Telegram's Bot API, when something waits, at most every
NOTIFY_EVERY_MINUTES, and never with a submitted value or the bot's token in it or in the logs."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from app import notify
from app.extensions import db
from app.models import Submission, utcnow
from tests.helpers import make_submission

TOKEN = "7700112233:AAH-secret-bot-token-value"
CHAT = "-1009876543210"
# What people typed: none of it may reach a notification.
SUBMITTED = {
    "telegram": "hidden_handle77",
    "body": "Uniquewordzebra was taken from Zhodino on Tuesday.",
}
AD = {"telegram": "ad_owner_handle", "title": "Flat near Okrestina", "body": "Quietplumtree text.", "city": "Hrodna"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.greetings: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.greetings.append(session.host_name)  # the name the client gave in EHLO (or HELO)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


class BotAPI(ThreadingHTTPServer):
    """Records Bot API calls; answers as Telegram does, or with ``status`` when told to fail."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), BotHandler)
        self.calls: list[tuple[str, dict]] = []
        self.status = 200


class BotHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.calls.append((self.path, fields))
        ok = self.server.status == 200
        body = json.dumps({"ok": ok, "result": {}} if ok else {"ok": False, "description": "Unauthorized"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # (the stand-in's own access log is not the app's)
        pass


@pytest.fixture
def bot():
    server = BotAPI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_config(smtp, bot, tmp_path):
    return {
        "NOTIFY_STATE_FILE": str(tmp_path / "notify.json"),
        "PUBLIC_URL": "https://prystan.example",
        "NOTIFY_EMAIL_TO": "duty@staff.example, second@staff.example",
        "NOTIFY_EMAIL_FROM": "site@prystan.example",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "SMTP_STARTTLS": False,
        "NOTIFY_TELEGRAM_TOKEN": TOKEN,
        "NOTIFY_TELEGRAM_CHAT_ID": CHAT,
        "TELEGRAM_API_URL": bot.url,
    }


def run_notify(runner):
    result = runner.invoke(args=["notify"])
    assert result.exit_code == 0, result.output
    return result.output


def sent_texts(smtp, bot) -> list[str]:
    mails = [message_from_bytes(raw).get_payload(decode=True).decode() for _from, _to, raw in smtp.messages]
    return [m.strip() for m in mails] + [fields["text"] for _path, fields in bot.calls]


def test_a_new_item_sends_one_fixed_sentence_by_both_channels(app, runner, smtp, bot):
    make_submission(app, **SUBMITTED)
    make_submission(app, "ad", **AD)

    assert "sent by email, telegram" in run_notify(runner)

    assert sent_texts(smtp, bot) == ["Please check the queue: https://prystan.example/moderation"] * 2
    mail_from, rcpt, raw = smtp.messages[0]
    assert mail_from == "site@prystan.example"
    assert rcpt == ["duty@staff.example", "second@staff.example"]
    assert message_from_bytes(raw)["Subject"] == "Please check the queue"
    path, fields = bot.calls[0]
    assert path == f"/bot{TOKEN}/sendMessage"
    assert fields["chat_id"] == CHAT
    # Nothing anyone submitted, no count and no kind, in any part of either message.
    everything = b"".join(raw for _f, _t, raw in smtp.messages).decode() + json.dumps(bot.calls)
    for value in [*SUBMITTED.values(), *AD.values()]:
        for word in value.split():
            if len(word) > 4:
                assert word not in everything
    for telling in ("information", "ad ", "2", "items", "new"):
        assert telling not in sent_texts(smtp, bot)[0].removesuffix("https://prystan.example/moderation")


def test_the_smtp_greeting_names_no_host_of_this_server(app, runner, smtp):
    """A relay copies the EHLO name into the mail's Received: header: it is a neutral one, never this machine's
    host name or address, unless the operator names one (SMTP_HELO_NAME)."""
    make_submission(app, **SUBMITTED)
    assert "sent by email" in run_notify(runner)
    assert smtp.greetings == ["localhost"]
    app.config["SMTP_HELO_NAME"] = "mail.prystan.example"
    assert digest_sent(app, runner)
    assert smtp.greetings[-1] == "mail.prystan.example"


def digest_sent(app, runner) -> bool:
    """Send again at once (the interval aside), with something waiting."""
    make_submission(app, **SUBMITTED)
    os.remove(app.config["NOTIFY_STATE_FILE"])
    return "sent by email" in run_notify(runner)


def test_sent_at_most_every_interval_and_only_when_something_waits(app, runner, smtp, bot, tmp_path):
    state = str(tmp_path / "notify.json")
    start = time.time()
    with app.app_context():
        assert notify.run(app.config, "q", state, now=start).reason == "nothing waits"
        make_submission(app, **SUBMITTED)
        assert notify.run(app.config, "q", state, now=start + 60).reason == "new"
        make_submission(app, **SUBMITTED)
        # Within the hour: not again, however much arrives.
        assert notify.run(app.config, "q", state, now=start + 1800).reason == "not due"
        # The next hour: what arrived meanwhile is told once, and then nothing more.
        assert notify.run(app.config, "q", state, now=start + 3700).reason == "new"
        assert notify.run(app.config, "q", state, now=start + 7400).reason == "nothing waits"
    assert len(smtp.messages) == len(bot.calls) == 2


def test_an_answer_wakes_it_but_staff_work_does_not(app, runner, smtp, bot, tmp_path):
    from app.audit import record

    state = str(tmp_path / "notify.json")
    start = time.time()
    with app.app_context():
        notify.run(app.config, "q", state, now=start)
        record("messaged", None, actor_id=None)  # staff work: nothing waits for staff
        record("published", None, actor_id=None)
        db.session.commit()
        assert notify.run(app.config, "q", state, now=start + 3600).reason == "nothing waits"
        record("answered", None)
        db.session.commit()
        assert notify.run(app.config, "q", state, now=start + 7200).reason == "new"


def test_an_open_case_past_its_age_wakes_it_once(app, smtp, bot, tmp_path):
    state = str(tmp_path / "notify.json")
    start = time.time()
    item, _code = make_submission(app, **SUBMITTED)
    with app.app_context():
        case = db.session.get(Submission, item)
        case.status = "approved"
        case.decided_at = utcnow() - timedelta(days=13, hours=23, minutes=30)  # 14 days old in half an hour
        db.session.commit()
        assert notify.run(app.config, "q", state, now=start).reason == "new"  # (the item itself was new)
        assert notify.run(app.config, "q", state, now=start + 3600).reason == "new"  # it passed 14 days
        assert notify.run(app.config, "q", state, now=start + 7200).reason == "nothing waits"
        case.done_at = utcnow()
        db.session.commit()
        assert notify.run(app.config, "q", state, now=start + 9000).reason == "nothing waits"


def test_an_item_entering_its_last_week_before_it_is_deleted_wakes_it_once(app, smtp, bot, tmp_path):
    """Issue 28: PENDING_MAX_DAYS (30) after it entered the queue, flask purge deletes an item nobody reviewed; a
    week before, the digest goes once (its text the same sentence)."""
    state = str(tmp_path / "notify.json")
    start = time.time()
    item, _code = make_submission(app, **SUBMITTED)
    with app.app_context():
        assert notify.run(app.config, "q", state, now=start).reason == "new"  # (the item itself was new)
        waiting = db.session.get(Submission, item)
        waiting.queued_at = utcnow() - timedelta(days=22, hours=23, minutes=30)  # its last week in half an hour
        db.session.commit()
        assert notify.run(app.config, "q", state, now=start + 3600).reason == "new"
        assert notify.run(app.config, "q", state, now=start + 7200).reason == "nothing waits"


@pytest.mark.parametrize("app_config", [{"NOTIFY_TELEGRAM_TOKEN": TOKEN, "NOTIFY_TELEGRAM_CHAT_ID": CHAT}])
def test_always_sends_on_every_interval_whether_or_not_anything_waits(app, bot, tmp_path):
    app.config.update(NOTIFY_ALWAYS=True, TELEGRAM_API_URL=bot.url)
    state = str(tmp_path / "notify.json")
    start = time.time()
    with app.app_context():
        reasons = [notify.run(app.config, "q", state, now=start + hour * 3600).reason for hour in range(3)]
        make_submission(app, **SUBMITTED)
        reasons.append(notify.run(app.config, "q", state, now=start + 3 * 3600).reason)
        reasons.append(notify.run(app.config, "q", state, now=start + 3 * 3600 + 60).reason)
    assert reasons == ["always"] * 4 + ["not due"]
    # The same message whatever happened: nothing to tell a quiet hour from a busy one.
    assert len({fields["text"] for _path, fields in bot.calls}) == 1 and len(bot.calls) == 4


def test_a_failing_bot_api_leaves_no_token_in_the_logs(app, runner, smtp, bot, caplog, capfd):
    make_submission(app, **SUBMITTED)
    bot.status = 401
    with caplog.at_level(logging.DEBUG):
        output = run_notify(runner)
    assert "sent by email." in output  # the other channel still went
    assert any("Telegram refused the message (HTTP 401)" in r.getMessage() for r in caplog.records)

    # And with no server there at all.
    app.config["TELEGRAM_API_URL"] = f"http://127.0.0.1:{free_port()}"
    app.config["NOTIFY_EVERY_MINUTES"] = 0
    make_submission(app, **SUBMITTED)
    with caplog.at_level(logging.DEBUG):
        run_notify(runner)
    assert any("Telegram not reached" in r.getMessage() for r in caplog.records)

    captured = capfd.readouterr()
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    for where in (logged, output, captured.out, captured.err):
        assert TOKEN not in where and TOKEN.split(":")[1] not in where
        assert CHAT not in where


@pytest.mark.parametrize("app_config", [{"NOTIFY_STATE_FILE": "/nonexistent/never-written.json"}])
def test_without_a_channel_nothing_is_tried(app, runner):
    make_submission(app, **SUBMITTED)
    assert "no channel" in run_notify(runner)


@pytest.mark.parametrize("app_config", [{"NOTIFY_TELEGRAM_TOKEN": TOKEN, "NOTIFY_TELEGRAM_CHAT_ID": CHAT}])
def test_without_a_configured_address_the_digest_has_no_link(app, runner, bot, tmp_path):
    app.config.update(TELEGRAM_API_URL=bot.url, NOTIFY_STATE_FILE=str(tmp_path / "n.json"))
    make_submission(app, **SUBMITTED)
    run_notify(runner)
    assert [fields["text"] for _path, fields in bot.calls] == ["Please check the queue"]
