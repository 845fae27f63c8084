"""Receipt codes: 16 random digits shown once to the submitter; only a digest derived from them with Argon2id is
stored (app/crypto/receipts.py)."""

import hashlib
import hmac
import re
import secrets

DIGITS = 16
_SEPARATORS = re.compile(r"[\s\-.]+")


def new_code() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def display(code: str) -> str:
    """Group the digits in fours, like a phone number: 1234 5678 9012 3456."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def parse(text: str) -> str | None:
    """Return the 16 digits of a typed code (spaces and dashes allowed), or None."""
    if not isinstance(text, str):
        return None
    digits = _SEPARATORS.sub("", text)
    if len(digits) == DIGITS and digits.isascii() and digits.isdigit():
        return digits
    return None


def legacy_digest(code: str, key: bytes) -> str:
    """The digest a receipt had before Argon2id (an HMAC under security.legacy_receipt_key()): looked for only when
    the new one finds nothing, and replaced at the receipt's first use."""
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()
