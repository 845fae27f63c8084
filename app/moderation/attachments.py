"""An item's files for staff: the download, never shown inline, and the previews made from the clean pixels."""

from flask import abort

from app.extensions import db
from app.models import Attachment
from app.moderation import bp
from app.moderation.reading import opener
from app.uploads.serve import send_stored
from app.uploads.storage import preview_key


@bp.get("/attachments/<id:attachment_id>")
def attachment(attachment_id: int):
    """Download an attachment: never shown inline, never sniffed, sandboxed if opened anyway."""
    item = db.get_or_404(Attachment, attachment_id)
    if opener().locked(item.submission):
        abort(403)  # its item is locked to this staff member: its name is sealed, and so will its file be
    name, _digest = opener().attachment(item)
    return send_stored(item.storage_key, item.content_type, download_name=name or f"{item.public_id}")


@bp.get("/attachments/<id:attachment_id>/preview")
@bp.get("/attachments/<id:attachment_id>/preview/<int(min=0, max=9):index>")
def preview(attachment_id: int, index: int = 0):
    """A small JPEG made from the clean pixels: an image's thumbnail, or one of a PDF's first pages."""
    item = db.get_or_404(Attachment, attachment_id)
    if index >= item.previews:
        abort(404)
    if opener().locked(item.submission):
        abort(403)
    return send_stored(preview_key(item.storage_key, index), "image/jpeg")
