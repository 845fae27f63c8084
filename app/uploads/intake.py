"""Checking uploads before they are kept: count, size, type from the content, names; then scrubbing.

Knows nothing of requests: it is given the uploaded file objects and the limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

SCRUBBER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scrub.py")

# Sniffed type -> extensions that may carry it.
TYPES = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/webp": ("webp",),
    "image/gif": ("gif",),
    "application/pdf": ("pdf",),
}
ACCEPT = ",".join(f".{ext}" for exts in TYPES.values() for ext in exts)
NAME_MAX = 100
_BIDI_AND_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

MESSAGES = {
    "too_many": _l("You can send at most %(max)d files at once."),
    "too_large": _l("%(name)s is larger than %(mb)d MB."),
    "total_too_large": _l("Together the files are larger than %(mb)d MB. Remove some of them."),
    "empty": _l("%(name)s is empty."),
    "type": _l("%(name)s is not a JPEG, PNG, WebP or GIF image or a PDF document."),
    "extension": _l("The name of %(name)s does not match what the file contains. Check that it is the file you meant."),
    "unreadable": _l("%(name)s could not be read: it may be damaged. Try saving it again or choose another file."),
    "too_many_pixels": _l("%(name)s has too many pixels. Send a smaller version of the picture."),
}


@dataclass
class Limits:
    files: int
    file_bytes: int
    total_bytes: int
    max_pixels: int


@dataclass
class Upload:
    """One file as received: a private temporary copy, its sniffed type and digest."""

    name: str
    type: str
    path: str
    size: int
    sha256: str
    clean_path: str = ""
    thumb_path: str = ""
    width: int | None = None
    height: int | None = None
    problems: list = field(default_factory=list)


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
    return None


def receive(files, limits: Limits, workdir: str) -> list[Upload]:
    """Copy the chosen files into ``workdir`` and check them; raise Refused naming every bad file."""
    files = [f for f in files if f and f.filename]
    if len(files) > limits.files:
        raise Refused([message("too_many", max=limits.files)])
    uploads, problems, seen, total = [], [], set(), 0
    for index, storage in enumerate(files):
        shown = _BIDI_AND_CONTROL.sub("", storage.filename)[:NAME_MAX] or "file"
        upload, problem = _receive_one(storage, shown, limits, os.path.join(workdir, f"in-{index}"))
        if problem:
            problems.append(problem)
            continue
        total += upload.size
        if upload.sha256 in seen:
            continue  # the same file chosen twice is kept once
        seen.add(upload.sha256)
        uploads.append(upload)
    if total > limits.total_bytes:
        problems.append(message("total_too_large", mb=limits.total_bytes // 2**20))
    if problems:
        raise Refused(problems)
    return uploads


def _receive_one(storage, shown: str, limits: Limits, path: str) -> tuple[Upload | None, str | None]:
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := storage.stream.read(1024 * 1024):
            size += len(chunk)
            if size > limits.file_bytes:
                return None, message("too_large", name=shown, mb=limits.file_bytes // 2**20)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        return None, message("empty", name=shown)
    with open(path, "rb") as f:
        type_ = sniff(f.read(16))
    if type_ is None:
        return None, message("type", name=shown)
    extension = shown.rpartition(".")[2].lower() if "." in shown else ""
    if extension not in TYPES[type_]:
        return None, message("extension", name=shown)
    return Upload(safe_name(storage.filename, type_), type_, path, size, digest.hexdigest()), None


def scrub(uploads: list[Upload], limits: Limits, workdir: str, timeout: int = 300) -> None:
    """Rebuild every file without metadata, in a child process; raise Refused for unreadable ones."""
    if not uploads:
        return
    jobs = []
    for index, upload in enumerate(uploads):
        upload.clean_path = os.path.join(workdir, f"clean-{index}")
        upload.thumb_path = os.path.join(workdir, f"thumb-{index}")
        jobs.append({"src": upload.path, "dst": upload.clean_path, "thumb": upload.thumb_path, "type": upload.type})
    request = json.dumps({"max_pixels": limits.max_pixels, "jobs": jobs})
    process = subprocess.run([sys.executable, "-I", SCRUBBER], input=request, capture_output=True, text=True,
                             timeout=timeout, check=False)
    results = json.loads(process.stdout) if process.returncode == 0 else [{"ok": False, "error": "unreadable"}] * len(jobs)
    problems = []
    for upload, result in zip(uploads, results, strict=True):
        if not result["ok"]:
            problems.append(message(result["error"], name=upload.name))
            continue
        upload.width, upload.height = result["width"], result["height"]
        upload.size = os.path.getsize(upload.clean_path)
        with open(upload.clean_path, "rb") as f:
            upload.sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        if upload.type == "application/pdf":
            upload.thumb_path = ""
    if problems:
        raise Refused(problems)


def discard(workdir: str) -> None:
    shutil.rmtree(workdir, ignore_errors=True)


def limits_from(config) -> Limits:
    return Limits(
        files=int(config["UPLOAD_MAX_FILES"]),
        file_bytes=int(config["UPLOAD_MAX_FILE_MB"]) * 2**20,
        total_bytes=int(config["UPLOAD_MAX_TOTAL_MB"]) * 2**20,
        max_pixels=int(config["UPLOAD_MAX_PIXELS"]),
    )
