"""Resumable uploads at /uploads: the tus 1.0.0 core protocol with the creation, termination and expiration
extensions (https://tus.io/protocols/resumable-upload), for the forms' files.

Every upload belongs to the visitor's form session: its key (made when a form is drawn, kept only in the session
cookie) names the owner and encrypts the bytes (app/uploads/resumable.py). These requests only read the session,
never write it, so uploads running side by side cannot race over the cookie. POST, PATCH and DELETE carry the CSRF
token (X-CSRFToken), as every POST of the site does.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import formatdate

from flask import current_app, g, jsonify, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import ClientDisconnected

from app import limits, proof
from app.extensions import limiter
from app.security import limiter_key
from app.submit import bp
from app.uploads import intake, resumable, sandbox, sealing
from app.uploads.stores import resumable_store

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
SESSION_KEY = "upload_key"
BYTES_PREFIX = "prystan:tus-bytes:"
HOUR = 3600
# Refusals of the client rather than of the file: the page's widget sends the file with the form instead.
REFUSALS = {
    "bytes": _l(
        "Too much was sent from your connection in the last hour. Send the file with the form, or try again later."
    ),
    "share": _l(
        "Too many files are on their way from your connection at once. Send this one with the form, or wait until "
        "the others have arrived."
    ),
    "pieces": _l("This file was sent in too many pieces. Send it with the form, or choose it again."),
}


def form_key(*, create: bool = False) -> bytes | None:
    """The form session's upload key; made (once per session) when a form page is drawn."""
    key = sealing.decode_key(session.get(SESSION_KEY))
    if key is None and create:
        key = sealing.new_key()
        session[SESSION_KEY] = sealing.encode_key(key)
    return key


def answer(body="", status: int = 204, **headers):
    response = current_app.response_class(body, status=status)
    response.headers["Tus-Resumable"] = VERSION
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = str(value)
    return response


def expires(upload: resumable.PendingUpload) -> str:
    return formatdate(upload.expires, usegmt=True)


def refuse(status: int, message: str = ""):
    return answer(message, status, Content_Type="text/plain; charset=utf-8")


@bp.before_request
def tus_version():
    """Every tus request but OPTIONS names the protocol version it speaks."""
    tus = (request.endpoint or "").startswith("submit.upload") and request.method in ("HEAD", "POST", "PATCH", "DELETE")
    if tus and request.headers.get("Tus-Resumable") != VERSION:
        return answer("", 412, Tus_Version=VERSION)
    return None


@bp.route("/uploads", methods=["OPTIONS"])
def uploads_options():
    return answer(Tus_Version=VERSION, Tus_Extension=EXTENSIONS, Tus_Max_Size=largest_file())


@bp.post("/uploads")
@limits.upload_creation_limit
def uploads_create():
    """Start an upload: its length and name (Upload-Metadata: filename) come first; refused at once if they break a
    limit the form would refuse too."""
    key = form_key()
    if key is None:
        return refuse(403, _("Your form session has ended. Reload the page and choose the files again."))
    if proof.ahead_refused():  # (429: the page sends the file with the form instead)
        return refuse(429, _("The site cannot take this file ahead right now: it goes with the form when you send it."))
    try:
        length = int(request.headers.get("Upload-Length", ""))
    except ValueError:
        return refuse(400)
    name = metadata(request.headers.get("Upload-Metadata", "")).get("filename", "").strip()
    if not name:
        return refuse(400)
    limits = intake.limits_from(current_app.config)
    if length > limits.for_name(name):
        return refuse(413, intake.message("too_large", name=name, mb=limits.for_name(name) // 2**20))
    if length <= 0:
        return refuse(400, intake.message("empty", name=name))
    try:
        upload = resumable_store().create(key, length, name, quota=quota(), admit=within_form(key, length, name))
    except resumable.Full as full:
        return refused_ahead(full, name)
    except resumable.UploadRefused as refused:
        return refuse(refused.status, refused.message)
    location = url_for("submit.upload", upload_id=upload.id)
    return answer("", 201, Location=location, Upload_Offset=0, Upload_Expires=expires(upload))


@bp.route("/uploads/<upload_id>", methods=["GET", "HEAD", "PATCH", "DELETE"])
def upload(upload_id: str):
    """HEAD tells the offset; PATCH appends at Upload-Offset; DELETE removes the upload; GET (not tus: for the
    page) says what became of a complete upload: clean, or refused and why."""
    key = form_key()
    upload = owned(upload_id)
    if upload is None:
        return refuse(404)
    store = resumable_store()
    if request.method == "HEAD":
        headers = {"Upload_Offset": upload.offset(), "Upload_Length": upload.length, "Upload_Expires": expires(upload)}
        return answer("", 200, **headers)
    if request.method == "DELETE":
        store.delete(upload)
        return answer("", 204)
    if request.method == "GET":
        return state(key, upload)
    return receive(key, store, upload)


def within_form(key: bytes, length: int, name: str):
    """The form session's own limits for a new upload (its count, and the totals of its kind), checked by the
    store in one step with the creation: uploads made at once cannot each find the same room."""
    limits = intake.limits_from(current_app.config)
    media = limits.is_media_name(name)
    total, code = (limits.media_total_bytes, "media_total") if media else (limits.total_bytes, "total_too_large")

    def admit(owned: list[resumable.PendingUpload]) -> None:
        mine = [u for u in owned if u.state != "refused"]  # a refused one holds nothing
        if len(mine) >= limits.files:
            raise resumable.UploadRefused(413, intake.message("too_many", max=limits.files))
        # Videos and recordings have a total of their own, photos and documents another.
        if sum(u.length for u in mine if limits.is_media_name(u.name(key)) == media) + length > total:
            raise resumable.UploadRefused(413, intake.message(code, mb=total // 2**20))

    return admit


def receive(key: bytes, store: resumable.Store, upload: resumable.PendingUpload):
    """PATCH: append at Upload-Offset, within the client's bytes per hour (counted as they are read); an upload
    idle for a while reserves its rest again first. The request that brings the last byte scrubs the file, and
    only that one."""
    if request.mimetype != "application/offset+octet-stream":
        return refuse(415)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return refuse(400)
    if over_bytes():
        return refuse(429, str(REFUSALS["bytes"]))
    stream = Counted(request.stream)
    try:
        upload, finishing = store.append(key, upload, offset, stream, quota=quota())
    except resumable.Full as full:
        return refused_ahead(full, upload.name(key))
    except resumable.UploadRefused as refused:
        if refused.status == 429:
            return refuse(429, str(REFUSALS["pieces"]))
        return refuse(refused.status)
    except (ClientDisconnected, OSError):  # (gunicorn's NoMoreData is an OSError)
        return refuse(400)  # the client is gone; what arrived is kept, and it resumes from there
    if finishing:
        config = current_app.config
        store.finish(key, upload, intake.limits_from(config), sandbox.settings_from(config), config["UPLOAD_WORKDIR"])
    elif stream.exhausted:
        return refuse(429, str(REFUSALS["bytes"]))  # what arrived within the hour's bytes is kept
    return answer(
        "", 204, Upload_Offset=upload.length if finishing else upload.offset(), Upload_Expires=expires(upload)
    )


def owned(upload_id: str) -> resumable.PendingUpload | None:
    key = form_key()
    return resumable_store().get(key, upload_id) if key else None


def state(key: bytes, upload: resumable.PendingUpload):
    name = upload.name(key)
    messages = [intake.Refusal(code, limit).message(name) for code, limit in upload.refusals]
    body = {"id": upload.id, "state": upload.state, "name": name, "messages": messages}
    if upload.state == "clean":
        body["size"] = upload.clean["size"]
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- what one client may take -----------------------------------------------------------------------------


def client() -> str:
    """The client, as the rate limiter knows it; none when limits are off."""
    if "tus_client" not in g:
        g.tus_client = limiter_key() if current_app.config["RATELIMIT_ENABLED"] else ""
    return g.tus_client


def quota() -> resumable.Quota:
    """What the store may hold: the server's budget for waiting files, and this client's share of it, which is
    what one form takes."""
    config, limits = current_app.config, intake.limits_from(current_app.config)
    budget = int(config["RESUMABLE_MAX_PENDING_MB"]) * 2**20
    return resumable.Quota(budget, client(), limits.total_bytes + limits.media_total_bytes)


def refused_ahead(full: resumable.Full, name: str):
    """No room: the server's disk budget (503, busy), or the client's share (429)."""
    if full.why == "busy":
        return refuse(503, intake.message("busy", name=name))
    return refuse(429, str(REFUSALS["share"]))


def bytes_key() -> str:
    return BYTES_PREFIX + client()


def over_bytes() -> bool:
    """Whether this PATCH would pass the client's bytes for the hour (by what it says it carries)."""
    if not client():
        return False
    allowed = int(current_app.config["RESUMABLE_RATELIMIT_MB"]) * 2**20 - limiter.storage.get(bytes_key())
    return allowed <= 0 or (request.content_length or 0) > allowed


class Counted:
    """A request's stream, whose bytes count toward the client's bytes for the hour as they are read (so PATCHes
    at once are counted together), and which ends where the hour's allowance ends (``exhausted``): a body with no
    Content-Length to check first stops there too."""

    def __init__(self, stream):
        self.stream, self.exhausted = stream, False
        self.limit = int(current_app.config["RESUMABLE_RATELIMIT_MB"]) * 2**20 if client() else 0
        self.left = self.limit - limiter.storage.get(bytes_key()) if client() else -1

    def read(self, size: int = -1) -> bytes:
        if not self.limit:
            return self.stream.read(size)
        if self.left <= 0:
            self.exhausted = self.exhausted or bool(self.stream.read(1))  # more than the hour allows
            return b""
        data = self.stream.read(self.left if size is None or size < 0 else min(size, self.left))
        if data:
            over = limiter.storage.incr(bytes_key(), HOUR, amount=len(data)) - self.limit
            self.left = -over
            if over > 0:  # others of the client's requests read meanwhile: this one ends here
                data, self.exhausted = data[: max(0, len(data) - over)], True
        return data


def metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated "key base64value" pairs."""
    found = {}
    for pair in header.split(","):
        name, _sep, value = pair.strip().partition(" ")
        try:
            found[name] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return found


def largest_file() -> int:
    return intake.limits_from(current_app.config).largest
