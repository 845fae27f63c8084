"""An item's files for staff: the download, never shown inline, and the previews made from the clean pixels, each
decrypted as it is sent (403 when the item is locked to this staff member)."""

from flask import abort
from flask_login import current_user

from app.extensions import db
from app.models import Attachment
from app.moderation import bp
from app.moderation.reading import opener
from app.submissions import reads
from app.uploads.serve import send_stored
from app.uploads.storage import preview_key


def opened(attachment_id: int, part: str) -> tuple[Attachment, bytes | None]:
    """The attachment and the key of its stored ``part`` (None: stored in clear, before sealing); 403 if locked."""
    item = db.get_or_404(Attachment, attachment_id)
    if opener().locked(item.submission):
        abort(403)
    reads.record(current_user.id, "file" if part == "file" else "preview", item.submission_id)
    if item.file_key is None:
        return item, None
    key = opener().file_key(item, part)
    if key is None:  # (a damaged key opens nothing: as locked)
        abort(403)
    return item, key


@bp.get("/attachments/<id:attachment_id>")
def attachment(attachment_id: int):
    """Download an attachment: never shown inline, never sniffed, sandboxed if opened anyway."""
    item, key = opened(attachment_id, "file")
    name, _digest = opener().attachment(item)
    return send_stored(item.storage_key, item.content_type, download_name=name or item.public_id, file_key=key)


@bp.get("/attachments/<id:attachment_id>/preview")
@bp.get("/attachments/<id:attachment_id>/preview/<int(min=0, max=9):index>")
def preview(attachment_id: int, index: int = 0):
    """A small JPEG made from the clean pixels: an image's thumbnail, or one of a PDF's first pages."""
    item, key = opened(attachment_id, f"preview{index}")
    if index >= item.previews:
        abort(404)
    return send_stored(preview_key(item.storage_key, index), "image/jpeg", file_key=key)
