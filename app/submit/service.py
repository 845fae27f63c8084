"""Creating submissions and finding them by receipt. Knows nothing of requests."""

from sqlalchemy import select

from app import receipts
from app.extensions import db
from app.models import Attachment, Submission
from app.moderation.service import record
from app.uploads.intake import Upload
from app.uploads.storage import LocalStorage, new_key


def create(kind: str, fields: dict, *, locale: str, receipt_key: bytes,
           uploads: list[Upload] = (), storage: LocalStorage | None = None) -> str:
    """Store a pending submission, its files and its audit event together; return the receipt code.

    Files are written first; if anything fails before the commit, they are removed again,
    so no file outlives a submission that was never stored.
    """
    code = receipts.new_code()
    written = []
    try:
        submission = Submission(kind=kind, status="pending", locale=locale,
                                receipt_digest=receipts.digest(code, receipt_key), **fields)
        for upload in uploads:
            key = new_key()
            storage.put_file(upload.clean_path, key)
            written.append(key)
            if upload.thumb_path:
                storage.put_file(upload.thumb_path, f"{key}-thumb")
                written.append(f"{key}-thumb")
            submission.attachments.append(Attachment(
                storage_key=key, original_name=upload.name, content_type=upload.type, size=upload.size,
                sha256=upload.sha256, width=upload.width, height=upload.height))
        db.session.add(submission)
        db.session.flush()
        record("submitted", submission.id, detail=kind)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for key in written:
            storage.delete(key)
        raise
    return code


def find(code_text: str, *, receipt_key: bytes) -> Submission | None:
    """Return the submission a typed receipt code belongs to, or None."""
    code = receipts.parse(code_text)
    if code is None:
        return None
    digest = receipts.digest(code, receipt_key)
    return db.session.scalar(select(Submission).where(Submission.receipt_digest == digest))
