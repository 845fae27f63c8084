"""A self-hosted proof of work on submissions (the ALTCHA v1 protocol; nothing leaves this site).

The browser fetches a signed challenge, finds the number n with SHA-256(salt + n) = challenge, and sends
the answer with the form. A valid answer spares the submitter the stricter limit that applies to
submissions without one (the no-JavaScript path); each answer counts once (see submit.routes). On the onion
address (and everywhere with POW_REQUIRED) there is no path without one.

Under load the puzzle grows: every answer taken is counted site-wide for 10 minutes (in the rate limiter's
storage, so Redis shares it between workers), and the largest number doubles for every ``step`` answers, up to
``cap`` times its normal size. A flood then costs its sender more with every send, and a quiet site stays fast.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import altcha


def new_challenge(key: bytes, *, max_number: int, minutes: int) -> dict:
    challenge = altcha.create_challenge_v1(
        altcha.ChallengeOptionsV1(
            hmac_key=key.hex(), max_number=max_number, expires=datetime.now() + timedelta(minutes=minutes)
        )
    )
    return {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }


def verify(payload: str, key: bytes) -> bool:
    """A solved, unexpired challenge that this site signed."""
    if not payload or len(payload) > 2000:
        return False
    try:
        ok, _error = altcha.verify_solution_v1(payload, key.hex(), check_expires=True)
    except Exception:  # any malformed payload is simply not a solution
        return False
    return bool(ok)


def signature(payload: str) -> str:
    """What makes an answer unique, to count each answer once."""
    try:
        return str(json.loads(base64.b64decode(payload))["signature"])[:64]
    except (ValueError, KeyError, TypeError):
        return ""


LOAD_WINDOW = 600  # seconds
LOAD_KEY = "pow-load"


def note_answer(storage) -> None:
    """An answer was taken: it counts toward the load for the next 10 minutes."""
    storage.incr(LOAD_KEY, LOAD_WINDOW)


def max_number(base: int, storage, *, step: int, cap: int) -> int:
    """The puzzle's size now: ``base``, doubled for every ``step`` answers taken in the window, at most ``cap``x."""
    taken = int(storage.get(LOAD_KEY) or 0)
    return base * min(2 ** (taken // max(step, 1)), cap)
