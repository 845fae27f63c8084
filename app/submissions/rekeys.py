"""Receipts issued before sealing (AT-REST.md, "Receipt").

`flask crypto migrate` seals an item stored before sealing with public keys only: nobody knows its receipt code
then, so the item gets no receipt wrap (key_for_receipt). When its holder next types the code, /status learns the
receipt key: note() seals it to the current queue epoch in a receipt_rekeys row, and the page shows the status
only. The next request of an unlocked reader who holds both epochs (the item's and the row's) closes the item's
secret key under the receipt key (settle) and deletes the row; from then on the receipt opens the item as it opens
any other. The public path never holds a key that opens the item.
"""

from __future__ import annotations

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.audit import day_of
from app.crypto import epochs, items
from app.extensions import db
from app.models import ReceiptRekey, Submission, User, utcnow
from app.submissions.sealed import Opener

SETTLE_AT_ONCE = 100  # rows a request settles; the next request takes the rest


def note(submission: Submission, receipt_key: bytes) -> None:
    """A receipt opened an item that has no receipt wrap: keep its key, sealed to the current epoch, for a reader
    to make the wrap with. Once per item (of two uses at once, one row is kept)."""
    if submission.key_for_receipt is not None or db.session.get(ReceiptRekey, submission.id) is not None:
        return
    if not epochs.readers():  # the epoch would open with the site's secret key: wait for the next use
        return
    epoch = epochs.current()
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # (the day only: when a submitter acted is kept no finer, as in the audit log)
    row = {"submission_id": submission.id, "epoch_id": epoch.id, "created_at": day_of(utcnow())}
    db.session.execute(
        insert(ReceiptRekey)
        .values(**row, sealed=items.seal_receipt_key(epoch.public_key, receipt_key))
        .on_conflict_do_nothing()
    )
    db.session.commit()


def waiting() -> bool:
    return bool(db.session.scalar(select(exists().where(ReceiptRekey.submission_id.is_not(None)))))


def settle(user: User, staff_secret: bytes) -> int:
    """Make the receipt wraps that this unlocked reader can make (items sealed since, in epochs they hold); delete
    their rows. Returns how many."""
    held = epochs.held(user)
    rows = db.session.execute(
        select(ReceiptRekey, Submission)
        .join(Submission, Submission.id == ReceiptRekey.submission_id)
        .where(
            Submission.public_key.is_not(None),
            Submission.epoch_id.in_(held),
            ReceiptRekey.epoch_id.in_(held),
        )
        .order_by(ReceiptRekey.submission_id)
        .limit(SETTLE_AT_ONCE)
    ).all()
    opener = Opener.for_staff(user, staff_secret)
    made = 0
    for rekey, submission in rows:
        epoch_secret, item_secret = opener.epoch_secret(rekey.epoch_id), opener.item_secret(submission)
        wrap = items.receipt_wrap(epoch_secret, rekey.sealed, item_secret) if epoch_secret and item_secret else None
        if wrap is None:
            continue
        # The version is left alone: this changes nothing a moderator decided.
        wrapped = update(Submission).where(Submission.id == submission.id, Submission.key_for_receipt.is_(None))
        db.session.execute(wrapped.values(key_for_receipt=wrap).execution_options(synchronize_session=False))
        db.session.delete(rekey)
        made += 1
    if made:
        db.session.commit()
    return made
