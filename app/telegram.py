"""Telegram usernames: accept the forms people paste, store the bare name.

Accepted: ``name``, ``@name``, ``t.me/name``, ``https://t.me/name``, ``telegram.me/name``.
Valid names: ASCII letters, digits and ``_``; 5-32 characters; start with a letter; no ``__``;
do not end with ``_``. Names are stored as typed and compared case-insensitively.
"""

import re
import unicodedata

from flask_babel import lazy_gettext as _l

MIN_LENGTH = 5
MAX_LENGTH = 32
HOSTS = ("t.me", "telegram.me")
# Paths on t.me that are not a person: invites, private posts, sticker sets, etc.
NOT_PROFILE = {"joinchat", "c", "s", "addstickers", "addemoji", "share", "proxy", "socks", "login"}

MESSAGES = {
    "empty": _l("Enter your Telegram username."),
    "phone": _l(
        "This looks like a phone number. We need your Telegram username instead: "
        "it starts with a letter, for example anna_k."
    ),
    "email": _l(
        "This looks like an e-mail address. We need your Telegram username instead: "
        "it starts with a letter, for example anna_k."
    ),
    "other_site": _l("This is a link to another site. Enter your Telegram username, or a link that starts with t.me/."),
    "not_profile": _l(
        "This link is not a personal profile (it looks like an invite, a channel post or a "
        "sticker set). Enter your own Telegram username."
    ),
    "spaces": _l("A username has no spaces."),
    "non_latin": _l(
        "Use Latin letters (a-z) only. Cyrillic letters and others that look like Latin ones "
        "are not allowed in Telegram usernames."
    ),
    "characters": _l("Only Latin letters, digits and the underscore (_) are allowed."),
    "too_short": _l("Too short: a username has at least 5 characters."),
    "too_long": _l("Too long: a username has at most 32 characters."),
    "start": _l("A username must start with a Latin letter."),
    "double_underscore": _l("A username cannot contain two underscores in a row (__)."),
    "end_underscore": _l("A username cannot end with an underscore."),
}

_PHONE = re.compile(r"\+?[0-9 ().\-]+")
_ALLOWED = re.compile(r"[A-Za-z0-9_]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)


class InvalidHandle(ValueError):
    """The input is not a usable Telegram username; ``code`` names the rule it broke."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code

    @property
    def message(self):
        return MESSAGES[self.code]


def normalize(raw: str) -> str:
    """Return the bare username from what a person typed, or raise InvalidHandle."""
    text = raw.strip()
    if not text:
        raise InvalidHandle("empty")
    if _PHONE.fullmatch(text) and sum(c.isdigit() for c in text) >= 7:
        raise InvalidHandle("phone")
    if _EMAIL.fullmatch(text):
        raise InvalidHandle("email")
    if "/" in text or _SCHEME.match(text) or text.lower().removeprefix("www.") in HOSTS:
        text = _name_from_link(text)
    if text.startswith("@"):
        text = text[1:]
    validate(text)
    return text


def validate(name: str) -> None:
    """Raise InvalidHandle unless ``name`` is a valid bare username."""
    if not name:
        raise InvalidHandle("empty")
    if any(c.isspace() for c in name):
        raise InvalidHandle("spaces")
    if not name.isascii():
        letters = any(unicodedata.category(c).startswith("L") for c in name if not c.isascii())
        raise InvalidHandle("non_latin" if letters else "characters")
    if not _ALLOWED.fullmatch(name):
        raise InvalidHandle("characters")
    if len(name) < MIN_LENGTH:
        raise InvalidHandle("too_short")
    if len(name) > MAX_LENGTH:
        raise InvalidHandle("too_long")
    if not name[0].isalpha():
        raise InvalidHandle("start")
    if "__" in name:
        raise InvalidHandle("double_underscore")
    if name.endswith("_"):
        raise InvalidHandle("end_underscore")


def is_valid(name: str) -> bool:
    try:
        validate(name)
    except InvalidHandle:
        return False
    return True


def _name_from_link(text: str) -> str:
    """Take the username out of a t.me or telegram.me link; refuse any other site."""
    rest = _SCHEME.sub("", text, count=1)
    if _SCHEME.match(text) and not text.lower().startswith(("http://", "https://")):
        raise InvalidHandle("other_site")
    host, _, path = rest.partition("/")
    host = host.lower().removeprefix("www.")
    if host not in HOSTS:
        raise InvalidHandle("other_site")
    path = re.split(r"[?#]", path, maxsplit=1)[0].rstrip("/")
    if not path:
        raise InvalidHandle("empty")
    if "/" in path or path.startswith("+") or path.lower() in NOT_PROFILE:
        raise InvalidHandle("not_profile")
    return path


def profile_url(name: str) -> str:
    return f"https://t.me/{name}"
