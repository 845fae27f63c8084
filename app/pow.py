"""A self-hosted proof of work on submissions (the ALTCHA v1 protocol; nothing leaves this site).

The browser fetches a signed challenge, finds the number n with SHA-256(salt + n) = challenge, and sends
the answer with the form. A valid answer spares the submitter the stricter limit that applies to
submissions without one (the no-JavaScript path); each answer counts once (see submit.routes).
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
