"""What a submission holds sealed at rest (AT-REST.md), written and read in one place.

Writing needs public keys only: the item's own (fields, the thread both ways, the reject note, an owner's pending
edit, its files' names and hashes) or the current queue epoch's (internal notes, readers' report notes). So the
public forms and /status seal what they take and can open nothing but what a receipt opens.

Reading goes through an Opener, made for a signed-in staff member whose session is unlocked (for_staff) or for the
holder of a receipt (for_receipt). It opens an item's key once, and each epoch's once per request; an item whose
key it cannot reach is *locked*: its texts are None, and pages say "locked" where they would be.

A row stored before sealing (no public key) holds its words in clear until `flask crypto migrate` seals it
(app/submissions/migrate.py): the same functions read it, so every page works on a database that holds both, as
it does while the command runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from app.crypto import epochs, files, items

if TYPE_CHECKING:
    from app.models import Attachment, Message, Note, Report, Submission, User

FIELDS = ("telegram", "title", "body", "city")


class Item(Protocol):
    """What opening an item reads: a Submission, or a row of only these columns (the queue's search)."""

    id: int
    epoch_id: int | None
    public_key: bytes | None
    key_for_queue: bytes | None
    key_for_receipt: bytes | None
    sealed: bytes | None
    telegram: str | None
    title: str | None
    body: str | None
    city: str | None


@dataclass(frozen=True)
class Texts:
    """An item's words: what the sender wrote (as an owner or a moderator edited it since)."""

    telegram: str | None = None
    title: str | None = None
    body: str = ""
    city: str | None = None

    def changed(self, **changes: Any) -> Texts:
        return replace(self, **changes)

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def of(cls, value: Any) -> Texts | None:
        if not isinstance(value, dict):
            return None
        return cls(
            **{name: _text(value.get(name)) for name in FIELDS if name != "body"}, body=_text(value.get("body")) or ""
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- writing: public keys only -----------------------------------------------------------------------------------


def new_item_columns(texts: Texts, receipt_key: bytes) -> dict[str, Any]:
    """The columns of a new item: its key, sealed to the current epoch and under the receipt key, and its fields
    sealed to it. No secret outlives the call."""
    epoch = epochs.current()
    keys = items.new_item(epoch.public_key, receipt_key)
    return {
        "epoch_id": epoch.id,
        "public_key": keys.public,
        "key_for_queue": keys.for_queue,
        "key_for_receipt": keys.for_receipt,
        "sealed": items.seal(keys.public, texts.to_json()),
    }


def is_sealed(submission: Item) -> bool:
    return submission.public_key is not None


def fields_columns(submission: Submission, texts: Texts) -> dict[str, Any]:
    """The columns that hold an item's fields, changed to ``texts``: sealed, or in clear in a row from before."""
    if submission.public_key is not None:
        return {"sealed": items.seal(submission.public_key, texts.to_json())}
    return texts.to_json()


def values(submission: Submission, texts: Texts, names: tuple[str, ...]) -> dict[str, Any]:
    """Fields of an item by name, from its words and (the category) its clear columns."""
    return {name: getattr(texts, name) if name in FIELDS else getattr(submission, name) for name in names}


def changed_columns(submission: Submission, texts: Texts, changed: dict[str, Any]) -> dict[str, Any]:
    """The columns for changed fields: words sealed again with the rest of ``texts``, the category in clear."""
    columns = {name: value for name, value in changed.items() if name not in FIELDS}
    words = {name: value for name, value in changed.items() if name in FIELDS}
    if words:
        columns |= fields_columns(submission, texts.changed(**words))
    return columns


def seal_for_item(submission: Submission, text: Any) -> bytes | None:
    """A text the item's receipt holder may read (a message, the reject note, the fields before an owner's edit).
    None for a row from before."""
    if submission.public_key is None:
        return None
    return items.seal(submission.public_key, text)


def seal_for_queue(text: str) -> tuple[int, bytes]:
    """A text only staff may read (a note, a report's note): sealed to the current epoch; (its id, the value)."""
    epoch = epochs.current()
    return epoch.id, items.seal(epoch.public_key, text)


def attachment_seal(public_key: bytes, name: str, sha256: str) -> bytes:
    return items.seal(public_key, {"name": name, "sha256": sha256})


# --- reading -----------------------------------------------------------------------------------------------------


class Opener:
    """Opens items for one reader: a staff member's unlocked key, or a receipt's key (never both)."""

    def __init__(
        self, *, user: User | None = None, staff_secret: bytes | None = None, receipt_key: bytes | None = None
    ):
        self._user = user
        self._staff_secret = staff_secret
        self._receipt_key = receipt_key
        self._epochs: dict[int, bytes | None] = {}
        self._items: dict[int, bytes | None] = {}
        self._files: dict[int, tuple[str | None, str | None]] = {}

    @classmethod
    def for_staff(cls, user: User, staff_secret: bytes | None) -> Opener:
        return cls(user=user, staff_secret=staff_secret)

    @classmethod
    def for_receipt(cls, receipt_key: bytes) -> Opener:
        return cls(receipt_key=receipt_key)

    def epoch_secret(self, epoch_id: int | None) -> bytes | None:
        """An epoch's secret key, if this staff member holds it (a receipt holds none)."""
        if epoch_id is None or self._user is None or self._staff_secret is None:
            return None
        if epoch_id not in self._epochs:
            self._epochs[epoch_id] = epochs.open_epoch(self._user, self._staff_secret, epoch_id)
        return self._epochs[epoch_id]

    def item_secret(self, submission: Item) -> bytes | None:
        if submission.id not in self._items:
            self._items[submission.id] = self._item_secret(submission)
        return self._items[submission.id]

    def _item_secret(self, submission: Item) -> bytes | None:
        if self._receipt_key is not None:
            if submission.key_for_receipt is None:
                return None
            return items.from_receipt(self._receipt_key, submission.key_for_receipt)
        epoch_secret = self.epoch_secret(submission.epoch_id)
        if epoch_secret is None or submission.key_for_queue is None:
            return None
        return items.from_queue(epoch_secret, submission.key_for_queue)

    def locked(self, submission: Item) -> bool:
        """The item is sealed and this reader cannot reach its key."""
        return is_sealed(submission) and self.item_secret(submission) is None

    def _open(self, submission: Item, sealed: bytes | None) -> Any:
        secret = self.item_secret(submission)
        if secret is None or sealed is None:
            return None
        return items.open_(secret, sealed)

    def texts(self, submission: Item) -> Texts | None:
        """The item's words, or None when it is locked to this reader."""
        if not is_sealed(submission):
            return Texts(submission.telegram, submission.title, submission.body or "", submission.city)
        return Texts.of(self._open(submission, submission.sealed))

    def reject_note(self, submission: Submission) -> str | None:
        if not is_sealed(submission):
            return submission.reject_note
        return _text(self._open(submission, submission.sealed_reject_note))

    def before_edit(self, submission: Submission) -> dict[str, Any] | None:
        """The fields as they were before the owner's pending edit (None if there is none, or it is locked)."""
        if not is_sealed(submission):
            return json.loads(submission.before_edit) if submission.before_edit else None
        value = self._open(submission, submission.sealed_before_edit)
        return value if isinstance(value, dict) else None

    def message(self, message: Message) -> str | None:
        if message.hidden_at is not None:  # hidden by its sender: sealed to the queue alone (a receipt opens none)
            return self.staff_only(message.epoch_id, message.sealed, None)
        if message.sealed is None:
            return message.body
        return _text(self._open(message.submission, message.sealed))

    def attachment(self, attachment: Attachment) -> tuple[str | None, str | None]:
        """A file's original name and sha256 (None, None when locked)."""
        if attachment.sealed is None:
            return attachment.original_name, attachment.sha256
        if attachment.id not in self._files:
            value = self._open(attachment.submission, attachment.sealed)
            found = (_text(value.get("name")), _text(value.get("sha256"))) if isinstance(value, dict) else (None, None)
            self._files[attachment.id] = found
        return self._files[attachment.id]

    def file_key(self, attachment: Attachment, part: str = "file") -> bytes | None:
        """The key a stored file (``part``: "file", "preview0"…) is encrypted under; None when it is locked. (A
        file stored before sealing has none: ask ``attachment.file_key`` first.)"""
        secret = self.item_secret(attachment.submission)
        if secret is None or attachment.file_key is None:
            return None
        opened = files.open_key(secret, attachment.file_key)
        return None if opened is None else files.part_key(opened, part)

    def staff_only(self, epoch_id: int | None, sealed: bytes | None, clear: str | None) -> str | None:
        """A note or a report's note: sealed to an epoch alone (a receipt never opens one)."""
        if sealed is None:
            return clear
        secret = self.epoch_secret(epoch_id)
        return None if secret is None else _text(items.open_(secret, sealed))

    def note(self, note: Note) -> str | None:
        return self.staff_only(note.epoch_id, note.sealed, note.body)

    def report_note(self, report: Report) -> str | None:
        return self.staff_only(report.epoch_id, report.sealed, report.note)


class Opened:
    """One item as a reader sees it, for templates: its words (None when locked) and what opens its thread,
    notes, reports and files. The Telegram username is not among them: only its mask (its first letter and its
    length), so that no page carries it until a staff member asks (app/submissions/reveals.py)."""

    def __init__(self, opener: Opener, submission: Submission):
        self.opener = opener
        self.submission = submission
        texts = opener.texts(submission)
        self.locked = texts is None
        self.handle_mask = mask(texts.telegram) if texts is not None and texts.telegram else None
        self.texts = texts.changed(telegram=None) if texts is not None else None
        shown = texts or Texts()
        self.title, self.body, self.city = shown.title, shown.body, shown.city

    @property
    def reject_note(self) -> str | None:
        return self.opener.reject_note(self.submission)

    def values(self, names: tuple[str, ...]) -> dict[str, Any] | None:
        """Fields by name (a form's data), None when locked."""
        return None if self.texts is None else values(self.submission, self.texts, names)

    def message(self, message: Message) -> str | None:
        return self.opener.message(message)

    def note(self, note: Note) -> str | None:
        return self.opener.note(note)

    def report_note(self, report: Report) -> str | None:
        return self.opener.report_note(report)

    def file_name(self, attachment: Attachment) -> str | None:
        return self.opener.attachment(attachment)[0]

    def file_sha256(self, attachment: Attachment) -> str | None:
        return self.opener.attachment(attachment)[1]


def mask(handle: str) -> str:
    """A username shown without saying it: its first letter, and a dot for each other letter."""
    return handle[:1] + "•" * (len(handle) - 1)
