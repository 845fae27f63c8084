"""Checking uploads before they are kept: count, size, type from the content, names; then scrubbing in the sandbox.

Knows nothing of requests: it is given the uploaded file objects and the limits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from app.uploads import sandbox
from app.uploads.scrub import FORMATS

log = logging.getLogger(__name__)

# Sniffed type -> extensions that may carry it. HEIC is stored as JPEG and TIFF as PNG (see scrub.FORMATS).
TYPES = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/webp": ("webp",),
    "image/gif": ("gif",),
    "image/heic": ("heic", "heif"),
    "image/tiff": ("tif", "tiff"),
    "application/pdf": ("pdf",),
}
ACCEPT = ",".join(f".{ext}" for exts in TYPES.values() for ext in exts)
# ISO media brands of HEIF still images (not AVIF, not video).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
PREVIEWS = {"application/pdf": 3}  # previews made per type (first pages of a PDF); one for every image
NAME_MAX = 100
_BIDI_AND_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

MESSAGES = {
    "too_many": _l("You can send at most %(max)d files at once."),
    "too_large": _l("%(name)s is larger than %(mb)d MB."),
    "total_too_large": _l("Together the files are larger than %(mb)d MB. Remove some of them."),
    "empty": _l("%(name)s is empty."),
    "type": _l("%(name)s is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF) or a PDF document."),
    "extension": _l("The name of %(name)s does not match what the file contains. Check that it is the file you meant."),
    "unreadable": _l("%(name)s could not be read: it may be damaged. Try saving it again or choose another file."),
    "too_many_pixels": _l("%(name)s has too many pixels. Send a smaller version of the picture."),
    "pdf_pages": _l("%(name)s has more than %(limit)d pages. Send it in parts of at most %(limit)d pages each."),
    "pdf_password": _l("%(name)s is protected by a password. Send a copy that opens without one."),
    "pdf_empty": _l("%(name)s has no pages."),
    "tiff_pages": _l(
        "%(name)s holds %(limit)d pages. Send each page as a picture of its own, or the document as a PDF."
    ),
    "too_slow": _l("%(name)s took too long to check and clean. Send a smaller or simpler file."),
    "limits": _l("%(name)s could not be checked within the limits we keep for safety. Send a smaller or simpler file."),
    "busy": _l("%(name)s could not be checked now: the site is busy. Please send the form again in a minute."),
}


@dataclass
class Limits:
    files: int
    file_bytes: int
    total_bytes: int


@dataclass
class Upload:
    """One file as received: a private temporary copy, its sniffed type and digest."""

    name: str
    type: str
    path: str
    size: int
    sha256: str
    clean_path: str = ""
    previews: list[str] = field(default_factory=list)  # paths of the previews made, in order
    width: int | None = None
    height: int | None = None


class Refused(Exception):
    """Some files were refused; ``messages`` name each one and say why."""

    def __init__(self, messages: list[str]):
        super().__init__("refused")
        self.messages = messages


def message(code: str, **values) -> str:
    return str(MESSAGES[code]) % values


def safe_name(raw: str | None, type_: str) -> str:
    """A name fit to show staff and to offer as a download name: no path, controls or direction tricks."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _BIDI_AND_CONTROL.sub("", name).strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext.lower() not in TYPES.get(type_, ()):
        ext = TYPES.get(type_, ("bin",))[0]
    stem = stem.strip(" .")[: NAME_MAX - len(ext) - 1] or "file"
    return f"{stem}.{ext.lower()}"


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image/heic"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def receive(files, limits: Limits, workdir: str) -> list[Upload]:
    """Copy the chosen files into ``workdir`` and check them; raise Refused naming every bad file."""
    uploads, problems = check(files, limits, workdir)
    if problems:
        raise Refused(problems)
    return uploads


def check(files, limits: Limits, workdir: str, *, already: list[Upload] = ()) -> tuple[list[Upload], list[str]]:
    """Copy the chosen files into ``workdir`` and check them, together with files ``already`` kept for the same
    form: the files that passed, and a message for each that did not (and for limits they break together)."""
    files = [f for f in files if f and f.filename]
    if len(files) + len(already) > limits.files:
        return [], [message("too_many", max=limits.files)]
    uploads, problems, seen = [], [], {u.sha256 for u in already}
    for index, storage in enumerate(files):
        shown = _BIDI_AND_CONTROL.sub("", storage.filename)[:NAME_MAX] or "file"
        upload, problem = _receive_one(storage, shown, limits, os.path.join(workdir, f"in-{index}"))
        if problem:
            problems.append(problem)
            continue
        if upload.sha256 in seen:
            continue  # the same file chosen twice is kept once
        seen.add(upload.sha256)
        uploads.append(upload)
    if sum(u.size for u in [*already, *uploads]) > limits.total_bytes:
        problems.append(message("total_too_large", mb=limits.total_bytes // 2**20))
        uploads = []
    return uploads, problems


def check_file(path: str, shown: str, limits: Limits) -> tuple[Upload | None, list[str]]:
    """Check one file already received whole (a resumable upload), in place, as the forms' files are checked."""
    shown = _BIDI_AND_CONTROL.sub("", shown)[:NAME_MAX] or "file"
    size = os.path.getsize(path)
    if size > limits.file_bytes:
        return None, [message("too_large", name=shown, mb=limits.file_bytes // 2**20)]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    upload, problem = _identify(path, shown, shown, size, digest)
    return upload, [problem] if problem else []


def _receive_one(storage, shown: str, limits: Limits, path: str) -> tuple[Upload | None, str | None]:
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := storage.stream.read(1024 * 1024):
            size += len(chunk)
            if size > limits.file_bytes:
                return None, message("too_large", name=shown, mb=limits.file_bytes // 2**20)
            digest.update(chunk)
            out.write(chunk)
    return _identify(path, shown, storage.filename, size, digest.hexdigest())


def _identify(path: str, shown: str, filename: str, size: int, digest: str) -> tuple[Upload | None, str | None]:
    """The file's type from its content, which its name must agree with."""
    if size == 0:
        return None, message("empty", name=shown)
    with open(path, "rb") as f:
        type_ = sniff(f.read(16))
    if type_ is None:
        return None, message("type", name=shown)
    extension = shown.rpartition(".")[2].lower() if "." in shown else ""
    if extension not in TYPES[type_]:
        return None, message("extension", name=shown)
    return Upload(safe_name(filename, type_), type_, path, size, digest), None


def scrub(uploads: list[Upload], settings: sandbox.Settings, workdir: str) -> None:
    """Rebuild every file without metadata in sandboxed children, in parallel; raise Refused naming each file
    that could not be rebuilt. Each upload then describes its clean copy (type, name, size, digest, previews)."""
    _cleaned, problems = rebuild(uploads, settings, workdir)
    if problems:
        raise Refused(problems)


def rebuild(uploads: list[Upload], settings: sandbox.Settings, workdir: str) -> tuple[list[Upload], list[str]]:
    """Rebuild every file in the sandbox; return the ones rebuilt (each now describing its clean copy) and a
    message for each that could not be."""
    jobs, opened = [], []
    try:
        for upload in uploads:
            stem = os.path.join(workdir, f"clean-{secrets.token_hex(6)}")
            upload.clean_path = stem
            previews = [f"{stem}-preview-{n}" for n in range(PREVIEWS.get(upload.type, 1))]
            job = {
                "type": upload.type,
                "src": os.open(upload.path, os.O_RDONLY),
                "dst": _writable(upload.clean_path),
                "previews": [_writable(p) for p in previews],
            }
            opened += [job["src"], job["dst"], *job["previews"]]
            upload.previews = previews
            jobs.append(job)
        results = sandbox.run_jobs(settings, jobs)
    finally:
        for fd in opened:
            os.close(fd)
    problems, cleaned = [], []
    for upload, result in zip(uploads, results, strict=True):
        result = trusted(result, upload)
        if not result["ok"]:
            if result.get("internal"):
                log.error("decoder sandbox failed on a %s file: %s", upload.type, result["internal"])
            problems.append(message(result["error"], name=upload.name, limit=result.get("limit") or 0))
            continue
        if result["type"] != upload.type:  # HEIC became JPEG, TIFF became PNG
            upload.type = result["type"]
            upload.name = safe_name(upload.name, upload.type)
        upload.width, upload.height = result["width"], result["height"]
        upload.previews = upload.previews[: result["previews"]]
        upload.size = os.path.getsize(upload.clean_path)
        with open(upload.clean_path, "rb") as f:
            upload.sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        cleaned.append(upload)
    return cleaned, problems


def trusted(result, upload: Upload) -> dict:
    """The child's answer, believed only as far as it can be: a child taken over by a hostile file could claim
    any type (text/html, say) or size. Anything but what this kind of file becomes is a refusal."""
    refused = {"ok": False, "error": "limits", "limit": None}
    if not isinstance(result, dict) or result.get("ok") not in (True, False):
        return refused
    if not result["ok"]:
        return result if result.get("error") in MESSAGES else refused
    expected = "application/pdf" if upload.type == "application/pdf" else FORMATS[upload.type][1]
    sizes = (result.get("width"), result.get("height"))
    numbers_ok = all(v is None or (isinstance(v, int) and 0 < v <= 10**6) for v in sizes)
    previews = result.get("previews")
    if result.get("type") != expected or not numbers_ok or not isinstance(previews, int):
        return refused
    return result | {"previews": max(0, min(previews, len(upload.previews)))}


def _writable(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def discard(workdir: str) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


def limits_from(config) -> Limits:
    return Limits(
        files=int(config["UPLOAD_MAX_FILES"]),
        file_bytes=int(config["UPLOAD_MAX_FILE_MB"]) * 2**20,
        total_bytes=int(config["UPLOAD_MAX_TOTAL_MB"]) * 2**20,
    )
