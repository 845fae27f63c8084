"""Checking uploads before they are kept: count, size, type from the content, names; then scrubbing in the sandbox.

Knows nothing of requests: it is given the uploaded file objects and the limits.

Why one module: a file's checks are one pipeline, read top to bottom (its type from the content, its name, the
limits, the rebuild in the sandbox and how far the child's answer is believed), and the messages are the words for
that pipeline's refusal codes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from app.uploads import sandbox
from app.uploads.scrub import FORMATS, MEDIA

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage

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
# Videos and recordings (where the server has ffmpeg): their extensions, from scrub's table of them.
MEDIA_TYPES = {type_: media.extensions for type_, media in MEDIA.items()}
ISO_MEDIA = ("video/mp4", "video/quicktime", "video/3gpp", "audio/mp4")
ALL_TYPES = TYPES | MEDIA_TYPES
# What browsers call each extension, for the widget's early check (the server sniffs the content anyway).
BROWSER_TYPES = {
    "jpg": ["image/jpeg"], "jpeg": ["image/jpeg"], "png": ["image/png"], "webp": ["image/webp"], "gif": ["image/gif"],
    "heic": ["image/heic", "image/heif"], "heif": ["image/heif", "image/heic"], "tif": ["image/tiff"],
    "tiff": ["image/tiff"], "pdf": ["application/pdf"], "mp4": ["video/mp4"], "m4v": ["video/x-m4v", "video/mp4"],
    "mov": ["video/quicktime"], "3gp": ["video/3gpp", "audio/3gpp"], "3g2": ["video/3gpp2", "audio/3gpp2"],
    "m4a": ["audio/mp4", "audio/x-m4a", "audio/m4a"], "webm": ["video/webm", "audio/webm"],
    "mp3": ["audio/mpeg", "audio/mp3"], "ogg": ["audio/ogg", "video/ogg", "application/ogg"], "oga": ["audio/ogg"],
    "opus": ["audio/opus", "audio/ogg"], "wav": ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"],
}  # fmt: skip
# ISO media brands of HEIF still images (not AVIF, not video).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
PREVIEWS = {"application/pdf": 3}  # previews made per type (first pages of a PDF); one for every image or video
PREVIEWS |= {t: 0 for t in MEDIA_TYPES if t.startswith("audio/")}
NAME_MAX = 100
_BIDI_AND_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

MESSAGES = {
    "too_many": _l("You can send at most %(max)d files at once."),
    "too_large": _l("%(name)s is larger than %(mb)d MB."),
    "total_too_large": _l("Together the files are larger than %(mb)d MB. Remove some of them."),
    "empty": _l("%(name)s is empty."),
    "type": _l("%(name)s is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF) or a PDF document."),
    "type_media": _l(
        "%(name)s is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF), a PDF document, a video (MP4, MOV, WebM, 3GP) "
        "or a recording (M4A, MP3, OGG, WAV)."
    ),
    "media_off": _l(
        "%(name)s is a video or a recording, which this site cannot take at the moment. Send photos or PDF documents."
    ),
    "media_total": _l("Together the videos and recordings are larger than %(mb)d MB. Remove some of them."),
    "media_unreadable": _l(
        "%(name)s could not be rebuilt without its hidden data: it may be damaged, or hold streams we cannot copy "
        "safely. Try another file or another format."
    ),
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
    "video_too_slow": _l(
        "%(name)s is a kind of video that must be re-encoded to remove what each of its frames carries, and it would "
        "take too long. Send a shorter part of it, or the video as MP4 (H.264 or HEVC)."
    ),
    "limits": _l("%(name)s could not be checked within the limits we keep for safety. Send a smaller or simpler file."),
    "busy": _l("%(name)s could not be checked now: the site is busy. Please send the form again in a minute."),
    # Files sent ahead (app/uploads/resumable.py), and what a form that names them is told:
    "unfinished": _l("%(name)s could not be finished on the server. Remove it and choose it again."),
    "not_kept": _l("%(name)s was not kept: the site has no room for it now. Choose it again before you send the form."),
    "gone": _l("A file sent ahead is no longer on the server: it expired or was removed. Choose it again."),
    "incomplete": _l("%(name)s has not finished arriving. Choose it again."),
    # The files of a form that was not sent and whose files were not opened (app/proof.py):
    "choose_again": _l("Choose your files again: they were not kept, as the form was not sent."),
}


@dataclass
class Limits:
    files: int
    file_bytes: int  # per photo or document
    total_bytes: int  # photos and documents together
    media_bytes: int = 0  # per video or recording; 0: the site takes none (no ffmpeg)
    media_total_bytes: int = 0
    media_seconds: int = 0

    @property
    def media(self) -> bool:
        return self.media_bytes > 0

    @property
    def largest(self) -> int:
        return max(self.file_bytes, self.media_bytes)

    def types(self) -> dict[str, tuple[str, ...]]:
        return ALL_TYPES if self.media else TYPES

    def accept(self) -> str:
        """The file input's accept list."""
        return ",".join(f".{ext}" for exts in self.types().values() for ext in exts)

    def browser_types(self) -> dict[str, list[str]]:
        extensions = {ext for exts in self.types().values() for ext in exts}
        return {ext: kinds for ext, kinds in BROWSER_TYPES.items() if ext in extensions}

    def is_media_name(self, name: str) -> bool:
        """Is a file called ``name`` a video or a recording the site takes (by its extension, before its content is
        there to say)?"""
        extension = name.rpartition(".")[2].lower()
        return self.media and any(extension in exts for exts in MEDIA_TYPES.values())

    def for_name(self, name: str) -> int:
        """The size limit of a file called ``name``."""
        return self.media_bytes if self.is_media_name(name) else self.file_bytes


def is_media(type_: str) -> bool:
    return type_ in MEDIA_TYPES


@dataclass
class Received:
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
    # A file finished through /uploads comes encrypted already (app/uploads/pending.py): under the parts of its own
    # key, the clean file and then its previews, ready to be stored as they are (clean_path and previews empty).
    file_key: bytes | None = None
    encrypted: list[str] = field(default_factory=list)


class FilesRefused(Exception):
    """Some files were refused; ``messages`` name each one and say why."""

    def __init__(self, messages: list[str]):
        super().__init__("refused")
        self.messages = messages


# Messages with a number in them whose plural forms differ by language (made in message()).
COUNTED = {"media_duration"}


@dataclass(frozen=True)
class Refusal:
    """Why a file was refused, without naming it: a message code and its number (MB, pages, minutes). The words,
    with the file's name, are made where they are shown."""

    code: str
    limit: int = 0

    def message(self, name: str) -> str:
        return message(self.code, name=name, limit=self.limit, mb=self.limit, max=self.limit)


def message(code: str, **values: Any) -> str:
    if code == "media_duration":
        return cast(
            str,
            ngettext(
                "%(name)s is longer than %(num)d minute. Send a shorter part of it.",
                "%(name)s is longer than %(num)d minutes. Send a shorter part of it.",
                values["limit"],
                name=values["name"],
            ),
        )
    return str(MESSAGES[code]) % values


def safe_name(raw: str | None, type_: str) -> str:
    """A name fit to show staff and to offer as a download name: no path, controls or direction tricks."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _BIDI_AND_CONTROL.sub("", name).strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if ext.lower() not in ALL_TYPES.get(type_, ()):
        ext = ALL_TYPES.get(type_, ("bin",))[0]
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
    if head[4:8] == b"ftyp":
        return "video/mp4"  # the family: the name decides which of ISO_MEDIA (_identify)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    return None


def receive(files: Iterable[FileStorage | None], limits: Limits, workdir: str) -> list[Received]:
    """Copy the chosen files into ``workdir`` and check them; raise FilesRefused naming every bad file."""
    uploads, problems = check(files, limits, workdir)
    if problems:
        raise FilesRefused(problems)
    return uploads


def check(
    files: Iterable[FileStorage | None], limits: Limits, workdir: str, *, already: Sequence[Received] = ()
) -> tuple[list[Received], list[str]]:
    """Copy the chosen files into ``workdir`` and check them, together with files ``already`` kept for the same
    form: the files that passed, and a message for each that did not (and for limits they break together)."""
    chosen = [f for f in files if f and f.filename]
    if len(chosen) + len(already) > limits.files:
        return [], [message("too_many", max=limits.files)]
    uploads: list[Received] = []
    problems: list[str] = []
    seen = {u.sha256 for u in already}
    for index, storage in enumerate(chosen):
        shown = _BIDI_AND_CONTROL.sub("", cast(str, storage.filename))[:NAME_MAX] or "file"
        upload, problem = _receive_one(storage, shown, limits, os.path.join(workdir, f"in-{index}"))
        if problem:
            problems.append(problem)
            continue
        upload = cast(Received, upload)  # no problem: _receive_one received it
        if upload.sha256 in seen:
            continue  # the same file chosen twice is kept once
        seen.add(upload.sha256)
        uploads.append(upload)
    together = [*already, *uploads]
    if sum(u.size for u in together if not is_media(u.type)) > limits.total_bytes:
        problems.append(message("total_too_large", mb=limits.total_bytes // 2**20))
        uploads = []
    if sum(u.size for u in together if is_media(u.type)) > limits.media_total_bytes > 0:
        problems.append(message("media_total", mb=limits.media_total_bytes // 2**20))
        uploads = []
    return uploads, problems


def check_file(path: str, shown: str, limits: Limits) -> tuple[Received | None, list[Refusal]]:
    """Check one file already received whole (a resumable upload), in place, as the forms' files are checked."""
    shown = _BIDI_AND_CONTROL.sub("", shown)[:NAME_MAX] or "file"
    size = os.path.getsize(path)
    if size > limits.largest:
        return None, [Refusal("too_large", limits.for_name(shown) // 2**20)]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    upload, refusal = _identify(path, shown, shown, size, digest, limits)
    return upload, [refusal] if refusal else []


def _receive_one(storage: FileStorage, shown: str, limits: Limits, path: str) -> tuple[Received | None, str | None]:
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := storage.stream.read(1024 * 1024):
            size += len(chunk)
            if size > limits.largest:
                return None, message("too_large", name=shown, mb=limits.for_name(shown) // 2**20)
            digest.update(chunk)
            out.write(chunk)
    upload, refusal = _identify(path, shown, cast(str, storage.filename), size, digest.hexdigest(), limits)
    return upload, refusal.message(shown) if refusal else None


def _identify(
    path: str, shown: str, filename: str, size: int, digest: str, limits: Limits
) -> tuple[Received | None, Refusal | None]:
    """The file's type from its content, which its name must agree with, and its size limit by that type."""
    if size == 0:
        return None, Refusal("empty")
    with open(path, "rb") as f:
        type_ = sniff(f.read(16))
    if type_ is None:
        return None, Refusal("type_media" if limits.media else "type")
    extension = shown.rpartition(".")[2].lower() if "." in shown else ""
    if type_ == "video/mp4":  # the ISO media family: which one, the name says
        type_ = next((t for t in ISO_MEDIA if extension in MEDIA_TYPES[t]), type_)
    if is_media(type_) and not limits.media:
        return None, Refusal("media_off")
    if extension not in ALL_TYPES[type_]:
        return None, Refusal("extension")
    limit = limits.media_bytes if is_media(type_) else limits.file_bytes
    if size > limit:
        return None, Refusal("too_large", limit // 2**20)
    return Received(safe_name(filename, type_), type_, path, size, digest), None


def scrub(uploads: list[Received], settings: sandbox.Settings, workdir: str) -> None:
    """Rebuild every file without metadata in sandboxed children, in parallel; raise FilesRefused naming each file
    that could not be rebuilt. Each upload then describes its clean copy (type, name, size, digest, previews)."""
    _cleaned, problems = rebuild(uploads, settings, workdir)
    if problems:
        raise FilesRefused(problems)


def rebuild(uploads: list[Received], settings: sandbox.Settings, workdir: str) -> tuple[list[Received], list[str]]:
    """Rebuild every file in the sandbox; return the ones rebuilt (each now describing its clean copy) and a
    message for each that could not be."""
    cleaned, refused = rebuild_coded(uploads, settings, workdir)
    return cleaned, [refusal.message(upload.name) for upload, refusal in refused]


def rebuild_coded(
    uploads: list[Received], settings: sandbox.Settings, workdir: str
) -> tuple[list[Received], list[tuple[Received, Refusal]]]:
    """As rebuild(), with each refusal as a code (to be kept, and made into words when shown)."""
    jobs: list[sandbox.Job] = []
    opened: list[int] = []
    try:
        for upload in uploads:
            stem = os.path.join(workdir, f"clean-{secrets.token_hex(6)}")
            upload.clean_path = stem
            previews = [f"{stem}-preview-{n}" for n in range(PREVIEWS.get(upload.type, 1))]
            # ffmpeg reopens a video's files by /proc/self/fd/N as the sandbox's user: they must let it (the work
            # folder around them is the app's alone).
            shared = is_media(upload.type)
            if shared:
                os.chmod(upload.path, 0o644)
            job: sandbox.Job = {
                "type": upload.type,
                "src": os.open(upload.path, os.O_RDONLY),
                "dst": _writable(upload.clean_path, shared),
                "previews": [_writable(p, shared) for p in previews],
            }
            opened += [job["src"], job["dst"], *job["previews"]]
            upload.previews = previews
            jobs.append(job)
        results = sandbox.run_jobs(settings, jobs)
    finally:
        for fd in opened:
            os.close(fd)
    refused: list[tuple[Received, Refusal]] = []
    cleaned: list[Received] = []
    for upload, answer in zip(uploads, results, strict=True):
        result = trusted(answer, upload)
        if not result["ok"]:
            if result.get("internal"):
                log.error("decoder sandbox failed on a %s file: %s", upload.type, result["internal"])
            refused.append((upload, Refusal(result["error"], result.get("limit") or 0)))
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
    return cleaned, refused


def trusted(result: object, upload: Received) -> dict[str, Any]:
    """The child's answer, believed only as far as it can be: a child taken over by a hostile file could claim
    any type (text/html, say) or size. Anything but what this kind of file becomes is a refusal."""
    refused: dict[str, Any] = {"ok": False, "error": "limits", "limit": None}
    if not isinstance(result, dict) or result.get("ok") not in (True, False):
        return refused
    if not result["ok"]:
        return result if result.get("error") in MESSAGES or result.get("error") in COUNTED else refused
    expected = upload.type if upload.type == "application/pdf" or is_media(upload.type) else FORMATS[upload.type][1]
    sizes = (result.get("width"), result.get("height"))
    numbers_ok = all(v is None or (isinstance(v, int) and 0 < v <= 10**6) for v in sizes)
    previews = result.get("previews")
    if result.get("type") != expected or not numbers_ok or not isinstance(previews, int):
        return refused
    return result | {"previews": max(0, min(previews, len(upload.previews)))}


def _writable(path: str, shared: bool = False) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    if shared:
        os.fchmod(fd, 0o666)
    return fd


def discard(workdir: str) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


def limits_from(config: Mapping[str, Any]) -> Limits:
    media = bool(config.get("MEDIA_TOOLS"))
    return Limits(
        files=int(config["UPLOAD_MAX_FILES"]),
        file_bytes=int(config["UPLOAD_MAX_FILE_MB"]) * 2**20,
        total_bytes=int(config["UPLOAD_MAX_TOTAL_MB"]) * 2**20,
        media_bytes=int(config["UPLOAD_MAX_MEDIA_MB"]) * 2**20 if media else 0,
        media_total_bytes=int(config["UPLOAD_MAX_MEDIA_TOTAL_MB"]) * 2**20 if media else 0,
        media_seconds=int(config["UPLOAD_MAX_MEDIA_MINUTES"]) * 60 if media else 0,
    )
