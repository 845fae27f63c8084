"""Database models. Limits live here as constants, shared by forms, validation and templates.

Why one module: the tables refer to each other (relationships by name, foreign keys, the hybrid rules that
queries share), and Alembic compares all of them with the migrations at once: one file is where a column is
looked for.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, and_, or_
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

if TYPE_CHECKING:  # what db.Model is, for mypy (Flask-SQLAlchemy makes it at run time)
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase):
        pass
else:
    Model = db.Model

# The largest id in any table: PostgreSQL's INTEGER (SQLite's is larger). URL parts, cursors and form values
# that name a row are checked against it before they reach a query, where a larger number would fail.
ID_MAX = 2**31 - 1


# SQLite would give a new row the id of the newest deleted one (and with it that item's audit trail): never.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def parse_id(text: str) -> int:
    """A row id from text (a URL argument, a form value); ValueError for anything that cannot be one."""
    value = int(text)
    if not 0 < value <= ID_MAX:
        raise ValueError("not an id")
    return value


# What the public sees instead of a row id (which would tell how many submissions arrive): 12 characters of an
# alphabet without look-alikes (about 60 bits), and no hyphen, so that "<public id>-<slug>" parses.
PUBLIC_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PUBLIC_ID_LENGTH = 12
PUBLIC_ID_PATTERN = f"[{PUBLIC_ID_ALPHABET}]{{{PUBLIC_ID_LENGTH}}}"


def new_public_id() -> str:
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


def utcnow() -> datetime:
    """Naive UTC: the same on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class Submission(Model):
    __tablename__ = "submissions"

    KINDS = ("information", "contact", "ad")
    STATUSES = ("pending", "approved", "rejected", "withdrawn")
    PURPOSES = ("job", "housing", "legal", "volunteer", "media", "other")
    CATEGORIES = ("job_wanted", "housing", "services", "goods", "help_needed", "other")
    TITLE_MAX = 120
    BODY_MAX = 5000
    AD_BODY_MAX = 2000
    CITY_MAX = 60
    NOTE_MAX = 500
    AD_DAYS = 30
    DUPLICATE_MINUTES = 60

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_LENGTH), unique=True, default=new_public_id)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # What the submitter wrote, in clear: only in rows stored before sealing (AT-REST.md), until `flask crypto
    # migrate` seals them. A new row keeps them None and holds them in ``sealed`` (app/submissions/sealed.py).
    # The username is None once a case is marked done with "forget the contact" (cases.done).
    telegram: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    body: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(CITY_MAX))
    show_contact: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # Set when the ad's owner marks it closed: it leaves the site but is not deleted.
    closed_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    reject_note: Mapped[str | None] = mapped_column(String(NOTE_MAX))
    # The lookup digest of the receipt code (Argon2id, app/crypto/receipts.py), or, for a receipt issued before
    # that and not used since, its HMAC; the code itself is never stored.
    receipt_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Keyed digest of kind, handle and text: the same thing sent twice within DUPLICATE_MINUTES is one item.
    dedupe_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(default=1)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claimed_until: Mapped[datetime | None]
    # Cases (information and contacts taken on): who follows it up, and when it was marked done.
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None]
    # When it last entered the queue (sent, edited by its owner, sent back by reports), and when an open case was
    # last worked on: their clocks (app/submissions/clocks.py) count from these.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    touched_at: Mapped[datetime | None]
    # The submitter answered through the receipt and no staff member has read it yet (threads.py).
    new_answer: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Sent on the onion without a solved puzzle: while pending it waits in the queue's tab "sent without the puzzle"
    # (app/submissions/unproved.py), not in the queue, and an undone rejection returns it there. Cleared when a
    # moderator takes it on or publishes it.
    unproved: Mapped[bool] = mapped_column(default=False, server_default="0")
    # An owner's edit of an ad: the fields as they were before it, as JSON, until a moderator decides (owner.edit).
    before_edit: Mapped[str | None] = mapped_column(Text)
    # The item's own key (app/crypto/items.py): its public key, and its secret key sealed to the queue epoch current
    # when it arrived and closed under the receipt key. None in a row stored before sealing.
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("queue_epochs.id"))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    key_for_queue: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    key_for_receipt: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    # Sealed to the item's public key: the handle, title, body and city (one JSON object); the reject note; an
    # owner's pending edit's text before it.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_reject_note: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_before_edit: Mapped[bytes | None] = mapped_column(LargeBinary)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    messages: Mapped[list[Message]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True, order_by="Message.id"
    )
    notes: Mapped[list[Note]] = relationship(cascade="all, delete-orphan", passive_deletes=True, order_by="Note.id")
    reports: Mapped[list[Report]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )
    public_copy: Mapped[PublicAd | None] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )
    rekey: Mapped[ReceiptRekey | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        Index("ix_submissions_queue", "status", "kind", "created_at", "id"),
        # The queue without a kind filter ("All"): oldest first straight from the index, no sort.
        Index("ix_submissions_queue_all", "status", "created_at", "id"),
        Index("ix_submissions_public", "kind", "status", "published_at", "id"),
        # The open cases, oldest first; one's own cases; the items with answers nobody has read.
        Index("ix_submissions_cases", "status", "done_at", "decided_at", "id"),
        Index("ix_submissions_assigned", "assigned_to_id", "done_at"),
        Index("ix_submissions_new_answer", "new_answer", "status"),
        Index("ix_submissions_unproved", "unproved", "status"),
        # What flask purge and the digest ask of the clocks: the items waiting longest.
        Index("ix_submissions_queued", "status", "queued_at"),
        NEVER_REUSE_IDS,
    )

    @property
    def public_images(self) -> list[Attachment]:
        """The images a moderator allowed readers to see with this ad."""
        return [a for a in self.attachments if a.public and a.content_type.startswith("image/")]

    @property
    def is_case(self) -> bool:
        """Information or a contact that was taken on: followed up until someone marks it done."""
        return self.kind != "ad" and self.status == "approved"

    # Each rule below is written once, for a loaded row (Python) and for a query (SQL), side by side: a hybrid's
    # instance form and its expression must say the same thing.

    @hybrid_property
    def is_open_case(self) -> bool:
        """A case nobody has marked done yet."""
        return self.kind != "ad" and self.status == "approved" and self.done_at is None

    @is_open_case.inplace.expression
    @classmethod
    def _is_open_case(cls):
        return and_(cls.kind != "ad", cls.status == "approved", cls.done_at.is_(None))

    @property
    def case_since(self) -> datetime:
        """When the case was taken on (for an item approved before the decision time was kept: when it was sent)."""
        return self.decided_at or self.created_at

    @property
    def staff_attachments(self) -> list[Attachment]:
        """The files sent with the form (the answers' files are shown with their messages)."""
        return [a for a in self.attachments if a.message_id is None]

    def claim_active(self, now: datetime) -> bool:
        """Someone holds the item for review at ``now`` (see decisions.claim); a lapsed claim holds nothing."""
        return self.claimed_by_id is not None and self.claimed_until is not None and self.claimed_until >= now

    @hybrid_method
    def claimed_by_other(self, user_id: int, now: datetime) -> bool:
        """Someone else holds the item for review at ``now``: the user must wait or choose another."""
        return self.claim_active(now) and self.claimed_by_id != user_id

    @claimed_by_other.inplace.expression
    @classmethod
    def _claimed_by_other(cls, user_id: int, now: datetime):
        return and_(
            cls.claimed_by_id.is_not(None),
            cls.claimed_until.is_not(None),
            cls.claimed_until >= now,
            cls.claimed_by_id != user_id,
        )

    @hybrid_method
    def is_live_ad(self, now: datetime) -> bool:
        """Published right now: an approved ad, not closed, not expired."""
        return (
            self.kind == "ad"
            and self.status == "approved"
            and self.closed_at is None
            and self.expires_at is not None
            and self.expires_at > now
        )

    @is_live_ad.inplace.expression
    @classmethod
    def _is_live_ad(cls, now: datetime):
        return and_(cls.kind == "ad", cls.status == "approved", cls.closed_at.is_(None), cls.expires_at > now)

    @hybrid_property
    def owner_may_edit(self) -> bool:
        """Its owner may change an ad that a moderator sent back for changes, or one that is published or expired
        (not closed). Either way it returns to the queue."""
        if self.kind != "ad":
            return False
        if self.status == "rejected":
            return self.reject_reason == "needs_changes"
        return self.status == "approved" and self.closed_at is None

    @owner_may_edit.inplace.expression
    @classmethod
    def _owner_may_edit(cls):
        return and_(
            cls.kind == "ad",
            or_(
                and_(cls.status == "rejected", cls.reject_reason == "needs_changes"),
                and_(cls.status == "approved", cls.closed_at.is_(None)),
            ),
        )

    def __repr__(self) -> str:
        return f"<Submission {self.id} {self.kind} {self.status}>"


class Attachment(Model):
    __tablename__ = "attachments"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    # Set for a file sent with an answer through the receipt (threads.answer).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_LENGTH), unique=True, default=new_public_id)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    # In clear only in rows stored before sealing; otherwise None, and both are in ``sealed`` (to the item's key).
    original_name: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None]
    height: Mapped[int | None]
    # Small JPEGs made from the clean pixels: an image's thumbnail, a PDF's first pages (storage.preview_key).
    previews: Mapped[int] = mapped_column(default=0, server_default="0")
    public: Mapped[bool] = mapped_column(default=False)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The stored file's own key (app/crypto/files.py), sealed to the item's public key: the file and its previews
    # are stored encrypted under it. None: stored in clear, before sealing.
    file_key: Mapped[bytes | None] = mapped_column(LargeBinary(128))

    submission: Mapped[Submission] = relationship(back_populates="attachments")
    message: Mapped[Message | None] = relationship(back_populates="attachments")


class Message(Model):
    """The private thread of an item, read and answered through the receipt alone: a staff member's message, or the
    submitter's answer. Added, never edited; it does not change the item's version."""

    __tablename__ = "messages"
    __table_args__ = NEVER_REUSE_IDS

    BODY_MAX = 2000
    PER_ITEM = 50  # messages and answers together: a thread is a few questions, not a chat

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    # None for the submitter's answer.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_staff: Mapped[bool] = mapped_column(default=True)
    # In clear only in rows stored before sealing; otherwise sealed to the item's key (its receipt holder reads it).
    body: Mapped[str | None] = mapped_column(Text)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A staff message the sender chose to hide at /status (the day): sealed again to the queue epoch ``epoch_id``
    # alone, so that the receipt no longer opens it (threads.hide).
    hidden_at: Mapped[datetime | None]
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("queue_epochs.id"))
    # An answer keeps the day only, as the audit log does for what a submitter does.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message", order_by="Attachment.id")


class Note(Model):
    """A staff member's internal note on an item: never shown to the submitter; its audit event holds no text."""

    __tablename__ = "notes"
    __table_args__ = NEVER_REUSE_IDS

    BODY_MAX = 2000
    PER_ITEM = 100

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # In clear only in rows stored before sealing; otherwise sealed to the queue epoch ``epoch_id`` alone.
    body: Mapped[str | None] = mapped_column(Text)
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("queue_epochs.id"))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship(lazy="joined")


class Article(Model):
    __tablename__ = "articles"

    STATUSES = ("draft", "published")
    TITLE_MAX = 200
    SUMMARY_MAX = 500
    SLUG_MAX = 120
    BODY_MAX = 100_000

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    summary: Mapped[str] = mapped_column(String(SUMMARY_MAX), default="")
    body_source: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_articles_public", "status", "published_at"), NEVER_REUSE_IDS)


# Which roles may do what: editors do not moderate, moderators do not manage staff.
PERMISSIONS = {
    "moderate": ("moderator", "admin"),
    "write": ("editor", "admin"),
    "administer": ("admin",),
}


class User(UserMixin, Model):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    ROLES = ("moderator", "editor", "admin")
    USERNAME_MAX = 64

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The secret being enrolled: made by the server, never taken from a form (app/auth/factors.py).
    totp_pending: Mapped[str | None] = mapped_column(String(64))
    # The last 30-second period whose code was used: a code works once.
    totp_last_step: Mapped[int | None]
    # Set by an admin: the account must enrol an authenticator app before it can work.
    totp_required: Mapped[bool] = mapped_column(default=False)
    # Set by an admin: only a security key (WebAuthn) signs the account in; codes from an app no longer do.
    key_required: Mapped[bool] = mapped_column(default=False)
    # The WebAuthn challenge being answered (made by the server, used once): app/auth/keys.py.
    key_challenge: Mapped[str | None] = mapped_column(String(128))
    key_challenge_at: Mapped[datetime | None]
    # Set when an admin chose the first password: the account must choose its own before it can work.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout and password change: sessions carrying an older value are dead.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The account's key pair (X25519, app/crypto/staffkeys.py), made whenever its password is set: the queue key
    # is sealed to the public key; the secret key rests under a key derived from the password (never the hash).
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    locked_key: Mapped[bytes | None] = mapped_column(LargeBinary(256))

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


class RecoveryCode(Model):
    """A one-time code that stands in for the authenticator app once (a lost phone): a keyed hash, never the code."""

    __tablename__ = "recovery_codes"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecurityKey(Model):
    """A passkey or security key (WebAuthn) of a staff member: a second factor the browser binds to the site's
    address, so a look-alike site cannot use it. Registered for one address (relying-party id): the public one or
    the onion, each separately."""

    __tablename__ = "security_keys"
    __table_args__ = NEVER_REUSE_IDS

    NAME_MAX = 64

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(default=0)
    rp_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class Event(Model):
    """Audit log. Never an IP address, handle, text or file name: only who did what to which item."""

    __tablename__ = "events"
    __table_args__ = NEVER_REUSE_IDS

    DETAIL_MAX = 200
    # What submitters and readers do: kept at day precision (app/audit.py).
    PUBLIC_ACTIONS = ("submitted", "withdrawn", "renewed", "closed", "reported", "answered", "resubmitted", "hidden")

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Not a foreign key: the trail of an item outlives the item (withdrawn, purged).
    submission_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(DETAIL_MAX), default="")

    actor: Mapped[User | None] = relationship(lazy="joined")

    @property
    def day_only(self) -> bool:
        """Its time is the day alone: a submitter's or a reader's action."""
        return self.action in self.PUBLIC_ACTIONS and self.actor_id is None


class Report(Model):
    __tablename__ = "reports"
    __table_args__ = NEVER_REUSE_IDS

    REASONS = ("spam", "scam", "offensive", "personal_data", "other")
    NOTE_MAX = 500

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    # In clear only in rows stored before sealing; otherwise "", and the reader's note is sealed to the queue epoch
    # ``epoch_id`` alone.
    note: Mapped[str] = mapped_column(String(NOTE_MAX), default="")
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("queue_epochs.id"))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sent on the onion without a solved puzzle: it waits in the queue's tab "sent without the puzzle" and does not
    # count toward REPORT_THRESHOLD until a moderator counts it (app/submissions/unproved.py).
    unproved: Mapped[bool] = mapped_column(default=False, server_default="0")

    submission: Mapped[Submission] = relationship(back_populates="reports")


class PublicAd(Model):
    """A published ad's clear public copy (AT-REST.md): what readers see, written at approval from the sealed
    fields (the handle only if its owner chose to show it), erased when the ad leaves the site. The readers' pages
    and the full-text index read this table only (app/submissions/public_copy.py, app/search.py)."""

    __tablename__ = "public_ads"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str] = mapped_column(String(Submission.TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(Submission.CITY_MAX))
    telegram: Mapped[str | None] = mapped_column(String(32))

    submission: Mapped[Submission] = relationship(back_populates="public_copy")

    # The cities of live ads (the /ads filter's suggestions).
    __table_args__ = (Index("ix_public_ads_city", "city"),)


class ReceiptRekey(Model):
    """A receipt issued before sealing, used since (AT-REST.md, "Receipt"): the receipt key its holder typed, sealed
    to the queue epoch current then, until an unlocked reader's request closes the item's secret key under it
    (Submission.key_for_receipt) and deletes this row (app/submissions/rekeys.py)."""

    __tablename__ = "receipt_rekeys"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("queue_epochs.id"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reveal(Model):
    """A staff member asked to see a submitter's Telegram username (app/submissions/reveals.py). Who and when are in
    clear (the audit event "revealed" says so too); why, a code from a short list, is sealed to the queue epoch
    ``epoch_id`` alone, like a note. Goes with its item."""

    __tablename__ = "reveals"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("queue_epochs.id"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")


class StaffRead(Model):
    """A staff member read an item (its page, a file, a preview) or searched the queue, in this hour (issue 28):
    a record that makes a leak traceable. Never the words searched, nor what was read. Not an audit event: a read
    changes nothing readers see, so it must not empty the page cache (which follows the events). Kept as long as
    the events."""

    __tablename__ = "staff_reads"
    __table_args__ = (Index("ix_staff_reads_seen", "user_id", "kind", "hour", "submission_id"), NEVER_REUSE_IDS)

    KINDS = ("item", "file", "preview", "search")

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Not a foreign key: the trail of an item outlives the item, as its events do. None for a search.
    submission_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    hour: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[User | None] = relationship(lazy="joined")


class QueueEpoch(Model):
    """One period of the queue key (AT-REST.md): new submissions are sealed to the newest epoch's public key; its
    secret key is sealed to each person who may read (EpochWrap). A new epoch begins whenever that set changes."""

    __tablename__ = "queue_epochs"
    __table_args__ = NEVER_REUSE_IDS

    REASON_MAX = 32

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(REASON_MAX))


class EpochWrap(Model):
    """An epoch's secret key sealed for one holder: a staff member's public key ("staff"), the offline recovery
    key ("recovery"), or, on a fresh install before any moderator or admin exists, a key derived from SECRET_KEY
    ("install": deleted as soon as one exists)."""

    __tablename__ = "epoch_wraps"
    __table_args__ = (db.UniqueConstraint("epoch_id", "user_id", "holder"), NEVER_REUSE_IDS)

    HOLDERS = ("staff", "recovery", "install")

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("queue_epochs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    holder: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingUnlock(Model):
    """A sign-in whose password was right, waiting for its second factor: the staff secret key under a random key
    that only the sign-in's cookie holds (the row is named by that key's digest). It unlocks nothing by itself."""

    __tablename__ = "pending_unlocks"

    id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class UnlockedSession(Model):
    """A signed-in session that can open sealed data: the staff secret key under a random key that only the
    session's cookie holds (the row is named by that key's digest). Deleted on sign-out, when the account's
    sessions end, and at the idle timeout or the absolute limit (app/crypto/unlocking.py)."""

    __tablename__ = "unlocked_sessions"

    id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_version: Mapped[int]
    sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    idle_until: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]


class KeySetting(Model):
    """What the keys remember in clear: the recovery key's fingerprint, first seen, and the epochs' lock row
    (app/crypto/epochs.py); the receipts' salt (app/crypto/receipts.py)."""

    __tablename__ = "key_settings"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class DemoItem(Model):
    """A submission `flask demo` made: remade on each run (app/demo.py), so that the demo moderator, whose key pair
    is new each run, reads every demo item. Empty on a real site."""

    __tablename__ = "demo_items"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
