"""The proof of work of one request (app/pow.py does the puzzle): whether this form carries a solved answer,
whether it must, and the challenge to hand out, whose size grows with the load.

A send without an answer is taken on the public address under a stricter limit (the no-JavaScript path). On the
onion address, where every visitor shares 127.0.0.1 and per-address limits cannot tell them apart, and everywhere
with POW_REQUIRED, it is refused with a message that says why, and the form comes back as it was sent.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import gettext as _

from app import pow
from app.addresses import on_onion
from app.extensions import limiter
from app.security import derive_key


def key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"], "pow")


def solved() -> bool:
    """This request carries a valid answer (checked once per request)."""
    if "pow_solved" not in g:
        g.pow_solved = pow.verify(request.form.get("altcha", ""), key())
    return g.pow_solved


def required() -> bool:
    config = current_app.config
    return bool(config["POW_ENABLED"]) and (bool(config["POW_REQUIRED"]) or on_onion())


def missing() -> str | None:
    """Why this send cannot be taken without an answer, or None."""
    if not required() or solved():
        return None
    return _(
        "Your browser has to solve a small puzzle before sending, which protects this site from floods, and it "
        "has not. Allow JavaScript for this site (in Tor Browser, the security level “Standard” or “Safer”), wait "
        "a few seconds and send again. Nothing you typed is lost."
    )


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
