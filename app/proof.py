"""The proof of work of one request (app/pow.py does the puzzle): whether this form carries a solved answer, what
becomes of a send without one, and the challenge to hand out, whose size grows with the load.

A send without an answer (no JavaScript: Tor Browser at "Safest"; or sent before the browser finished) is taken:
- on the public address, under a stricter limit per address (NOJS_SUBMIT_RATELIMIT, app/limits.py);
- on the onion, where every visitor shares 127.0.0.1 and no per-address limit can tell them apart, into the queue's
  tab "sent without the puzzle" (app/submissions/unproved.py), one per form session per 10 minutes, and only while
  that tab holds at most NOJS_QUARANTINE_MAX things.
It is refused everywhere with POW_REQUIRED, and on the onion while the tab is full. A refused send is refused before
anything else is done with it: its files are not opened (no sandbox runs), and the form comes back as typed.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import gettext as _

from app import pow
from app.addresses import on_onion
from app.extensions import limiter
from app.security import derive_key
from app.submissions import unproved


def key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"], "pow")


def solved() -> bool:
    """This request carries a valid answer (checked once per request)."""
    if "pow_solved" not in g:
        g.pow_solved = pow.verify(request.form.get("altcha", ""), key())
    return g.pow_solved


def unanswered() -> bool:
    """The puzzle is on and this send carries no valid answer."""
    return bool(current_app.config["POW_ENABLED"]) and not solved()


def held() -> bool:
    """This send, if taken, waits in the tab "sent without the puzzle": on the onion without an answer."""
    return unanswered() and on_onion()


def refusal() -> str | None:
    """Why this send cannot be taken without an answer, or None. Asked before the form's files are opened."""
    config = current_app.config
    if not unanswered():
        return None
    if config["POW_REQUIRED"]:
        return _(
            "Your browser has to solve a small puzzle before sending, which protects this site from floods, and it "
            "has not. Allow JavaScript for this site (in Tor Browser, the security level “Standard” or “Safer”), "
            "wait a few seconds and send again. Nothing you typed is lost."
        )
    if on_onion() and unproved.full(int(config["NOJS_QUARANTINE_MAX"]), reports=request.endpoint == "public.report"):
        return _(
            "Too many forms and reports sent without JavaScript are waiting for a moderator, so no more can be taken "
            "for now. "
            "Try again in a few hours, or allow JavaScript for this site (in Tor Browser, the security level "
            "“Safer”) and send again: your browser then solves a small puzzle that protects this site from floods. "
            "Nothing you typed is lost."
        )
    return None


# On the onion, a file sent ahead of its form (a resumable upload, app/submit/tus.py) carries the form's answer here.
AHEAD_HEADER = "X-Prystan-Pow"


def ahead_needed() -> bool:
    """A file sent ahead needs the form's answer: on the onion, where no address tells visitors apart, a bot making
    new form sessions would otherwise have the sandbox scrub whatever it uploads, with no puzzle and no cap."""
    return bool(current_app.config["POW_ENABLED"]) and on_onion()


def ahead_refused() -> bool:
    """This upload may not start: it needs the answer and carries none that is valid. (The page then sends the file
    with the form, which carries the answer: js/upload.js.)"""
    return ahead_needed() and not pow.verify(request.headers.get(AHEAD_HEADER, ""), key())


def counting() -> bool:
    """The load is counted in the rate limiter's storage, which exists only while limits are on."""
    return bool(current_app.config["RATELIMIT_ENABLED"])


def taken() -> None:
    """A send with an answer was taken: it counts toward the load."""
    if counting() and current_app.config["POW_ENABLED"] and solved():
        pow.note_answer(limiter.storage)


def challenge() -> dict:
    config = current_app.config
    size = int(config["POW_MAX_NUMBER"])
    if counting():
        size = pow.max_number(
            size, limiter.storage, step=int(config["POW_LOAD_STEP"]), cap=int(config["POW_LOAD_MAX_FACTOR"])
        )
    return pow.new_challenge(key(), max_number=size, minutes=config["POW_MINUTES"])
