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

from flask import current_app, jsonify, request, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import ClientDisconnected

from app.extensions import limiter
from app.submit import bp
from app.uploads import intake, resumable, sandbox
from app.uploads.stores import resumable_store

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
SESSION_KEY = "upload_key"


def form_key(*, create: bool = False) -> bytes | None:
    """The form session's upload key; made (once per session) when a form page is drawn."""
    key = resumable.decode_key(session.get(SESSION_KEY))
    if key is None and create:
        key = resumable.new_key()
        session[SESSION_KEY] = resumable.encode_key(key)
    return key


def answer(body="", status: int = 204, **headers):
    response = current_app.response_class(body, status=status)
    response.headers["Tus-Resumable"] = VERSION
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = str(value)
    return response


def expires(upload: resumable.Upload) -> str:
    return formatdate(upload.expires, usegmt=True)


def refuse(status: int, message: str = ""):
    return answer(message, status, Content_Type="text/plain; charset=utf-8")


@bp.before_request
def tus_version():
    """Every tus request but OPTIONS names the protocol version it speaks."""
    if (request.endpoint or "").startswith("submit.upload") and request.method in ("HEAD", "POST", "PATCH", "DELETE"):
        if request.headers.get("Tus-Resumable") != VERSION:
            return answer("", 412, Tus_Version=VERSION)
    return None


def creation_limit() -> str:
    return current_app.config["RESUMABLE_RATELIMIT"]


def created(response) -> bool:
    return response.status_code == 201


@bp.route("/uploads", methods=["OPTIONS"])
def uploads_options():
    return answer(Tus_Version=VERSION, Tus_Extension=EXTENSIONS, Tus_Max_Size=largest_file())


@bp.post("/uploads")
@limiter.limit(creation_limit, deduct_when=created)
def uploads_create():
    """Start an upload: its length and name (Upload-Metadata: filename) come first; refused at once if they break a
    limit the form would refuse too."""
    key = form_key()
    if key is None:
        return refuse(403, _("Your form session has ended. Reload the page and choose the files again."))
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
    store = resumable_store()
    mine = store.owned(key)
    if len(mine) >= limits.files:
        return refuse(413, intake.message("too_many", max=limits.files))
    # Videos and recordings have a total of their own, photos and documents another.
    media = limits.is_media_name(name)
    total, code = (limits.media_total_bytes, "media_total") if media else (limits.total_bytes, "total_too_large")
    if sum(u.length for u in mine if limits.is_media_name(u.name(key)) == media) + length > total:
        return refuse(413, intake.message(code, mb=total // 2**20))
    if store.pending_bytes() + length > int(current_app.config["RESUMABLE_MAX_PENDING_MB"]) * 2**20:
        return refuse(503, intake.message("busy", name=name))
    upload = store.create(key, length, name)
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
    if request.mimetype != "application/offset+octet-stream":
        return refuse(415)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return refuse(400)
    try:
        reached = store.append(key, upload, offset, request.stream)
    except resumable.Refused as refused:
        return refuse(refused.status)
    except (ClientDisconnected, OSError):  # (gunicorn's NoMoreData is an OSError)
        return refuse(400)  # the client is gone; what arrived is kept, and it resumes from there
    if reached == upload.length:
        config = current_app.config
        store.finish(key, upload, intake.limits_from(config), sandbox.settings_from(config), config["UPLOAD_WORKDIR"])
    return answer("", 204, Upload_Offset=reached, Upload_Expires=expires(upload))


def owned(upload_id: str) -> resumable.Upload | None:
    key = form_key()
    return resumable_store().get(key, upload_id) if key else None


def state(key: bytes, upload: resumable.Upload):
    body = {"id": upload.id, "state": upload.state, "name": upload.name(key), "messages": upload.messages}
    if upload.state == "clean":
        body["size"] = upload.clean["size"]
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


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
