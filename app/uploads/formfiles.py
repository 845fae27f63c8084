"""A form's files, wherever they come from: sent with the form now (multipart), sent ahead (resumable uploads,
named in its ``uploads`` field), or kept from an earlier try of the same form that came back with an error.

take() is the one flow of every form that carries files (the three public forms, the answer at /status): it finds
the files the form names, checks and scrubs those sent now together with them, and either hands them all, clean,
to ``save`` (which stores them with the submission or the answer) or says what is wrong and keeps the good ones,
encrypted, for the next try (an hour). A form never goes without a file it names.

Knows nothing of requests: the route says what the form carried (Sent).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, cast

from flask import current_app

from app.uploads import intake, resumable, sandbox
from app.uploads.stores import resumable_store

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage


class Kept(TypedDict):
    """A file kept for a form's next try, as the form shows it."""

    id: str
    name: str
    size: int


@dataclass
class Sent:
    """What a form carried of its files."""

    key: bytes | None  # the form session's upload key (app/submit/tus.py:form_key)
    quota: Callable[[], resumable.Quota]  # what the client may keep (app/submit/tus.py:quota), asked when needed
    files: list[FileStorage] = field(default_factory=list)  # file objects sent with the form now
    named: list[str] = field(default_factory=list)  # its ``uploads`` field: ids of files received before
    remove: str = ""  # the id of a file received before that the person removed (and nothing else was asked)


@dataclass
class Taken:
    """What became of a form's files: ``saved`` is what save() returned (the form was taken); otherwise the form
    comes back, saying ``messages`` and carrying ``kept`` (each file's id, name and size)."""

    saved: Any = None
    messages: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    removed: bool = False  # the person removed a file: the form comes back as it was, with no error
    declined: bool = False  # save() took nothing (a duplicate, say): the files stay as they were


class Unsent(Exception):
    """The form's files could not all be taken: ``messages`` say why, ``kept`` are the ones kept for next time."""

    def __init__(self, messages: list[str], kept: list[resumable.PendingUpload]):
        super().__init__("unsent")
        self.messages, self.kept = messages, kept


def take(
    sent: Sent,
    *,
    valid: Callable[[], bool],
    save: Callable[[list[intake.Received]], Any],
    scrubbing: Callable[[], None] | None = None,
    keep_refused: bool = True,
) -> Taken:
    """Take a form's files: with ``valid()`` (the form's other fields) and every file good, ``save(files)`` stores
    them, clean, with what they came with, and the files received before leave the store. Otherwise say what is
    wrong and keep what was good for the next try. ``save`` may decline (return None): nothing changes.
    ``scrubbing()`` is called once every file has passed its checks, as the sandbox starts to rebuild them: what
    ``save`` will need may be made meanwhile (the receipt's Argon2id). Without ``keep_refused``, the files sent with
    a form that comes back for its fields are not opened at all (no sandbox runs): the person chooses them again."""
    store = resumable_store()
    kept, missing = named(store, sent)
    if sent.remove:
        kept = forget(store, kept, sent.remove)
        return Taken(kept=described(sent.key, kept), removed=True)
    if valid() and not missing:
        try:
            with clean_files(store, sent, kept, scrubbing, keep_refused=keep_refused) as files:
                saved = save(files)
        except Unsent as unsent:
            messages, kept = unsent.messages, kept + unsent.kept
        else:
            if saved is None:
                return Taken(kept=described(sent.key, kept), declined=True)
            for upload in kept:
                store.delete(upload)
            return Taken(saved=saved)
    elif keep_refused:
        more, problems = keep_sent(store, sent, kept)
        messages, kept = missing + problems, kept + more
    else:
        messages = missing + ([intake.message("choose_again")] if any(f and f.filename for f in sent.files) else [])
    for upload in kept:  # the form comes back: what it carries is kept an hour from now, as the page says
        store.renew(upload)  # (never past its form's four hours: resumable.Store.renew)
    return Taken(messages=messages, kept=described(sent.key, kept))


def shown(sent: Sent) -> list[Kept]:
    """The files received before that a form carries, as it shows them (a form drawn again after an error of the
    request rather than of the form: an expired token, a limit)."""
    return described(sent.key, named(resumable_store(), sent)[0])


def named(store: resumable.Store, sent: Sent) -> tuple[list[resumable.PendingUpload], list[str]]:
    """The files received before that the form names and that are this session's; and what is wrong with each it
    names that it cannot send (gone, refused, not arrived whole)."""
    key = sent.key
    found: list[resumable.PendingUpload] = []
    missing: list[str] = []
    # an upload is found with a key only: where one is, so is the key
    for upload_id in dict.fromkeys(i.strip() for v in sent.named for i in v.split(",")):
        upload = store.get(key, upload_id) if key and upload_id else None
        if upload is not None and upload.state == "clean":
            found.append(upload)
        elif upload is not None and upload.state == "refused":
            missing += [
                intake.Refusal(code, limit).message(upload.name(cast("bytes", key))) for code, limit in upload.refusals
            ]
        elif upload is not None:
            missing.append(intake.message("incomplete", name=upload.name(cast("bytes", key))))
        elif upload_id:
            missing.append(intake.message("gone"))
    return found[: intake.limits_from(current_app.config).files], list(dict.fromkeys(missing))


def forget(
    store: resumable.Store, kept: list[resumable.PendingUpload], upload_id: str
) -> list[resumable.PendingUpload]:
    """The person removed a file received before: it is deleted at once."""
    for upload in kept:
        if upload.id == upload_id:
            store.delete(upload)
    return [u for u in kept if u.id != upload_id]


@contextmanager
def clean_files(
    store: resumable.Store,
    sent: Sent,
    kept: list[resumable.PendingUpload],
    scrubbing: Callable[[], None] | None = None,
    *,
    keep_refused: bool = True,
) -> Iterator[list[intake.Received]]:
    """Every file of a form, clean, in a private work folder (gone afterwards): those received before (``kept``)
    and those sent with it now, checked and scrubbed together. If one is refused, raises Unsent, keeping the good
    ones of this request for the corrected form (without ``keep_refused``: before any is scrubbed, keeping none)."""
    config = current_app.config
    with work_folder() as workdir:
        # a form session's files are kept under its key
        ready = [store.open_clean(cast("bytes", sent.key), upload, workdir) for upload in kept]
        fresh, problems = intake.check(sent.files, intake.limits_from(config), workdir, already=ready)
        if problems and not keep_refused:
            raise Unsent([*problems, intake.message("choose_again")], [])
        if scrubbing is not None and not problems:
            scrubbing()
        cleaned, failed = intake.rebuild(fresh, sandbox.settings_from(config), workdir)
        if problems or failed:
            more, not_kept = keep(store, sent, cleaned)
            raise Unsent(problems + failed + not_kept, more)
        yield ready + cleaned


def keep_sent(
    store: resumable.Store, sent: Sent, kept: list[resumable.PendingUpload]
) -> tuple[list[resumable.PendingUpload], list[str]]:
    """A form came back with an error: scrub the files it carried and keep them, encrypted, for this form session
    (an hour), so that the person does not choose them again. Returns the kept ones and what was refused."""
    files = [f for f in sent.files if f and f.filename]
    if not files or sent.key is None:
        return [], []
    config = current_app.config
    with work_folder() as workdir:
        before = [intake.Received("", u.clean["type"], "", u.clean["size"], u.clean["sha256"]) for u in kept]
        fresh, problems = intake.check(files, intake.limits_from(config), workdir, already=before)
        cleaned, failed = intake.rebuild(fresh, sandbox.settings_from(config), workdir)
        more, not_kept = keep(store, sent, cleaned)
        return more, problems + failed + not_kept


def keep(
    store: resumable.Store, sent: Sent, cleaned: list[intake.Received]
) -> tuple[list[resumable.PendingUpload], list[str]]:
    """Keep a refused form's clean files for its next try, each within the store's budget and the client's share,
    as a file sent ahead would be: one that does not fit is not kept, and the form says so (choose it again)."""
    kept: list[resumable.PendingUpload] = []
    not_kept: list[str] = []
    for received in cleaned if sent.key else []:
        try:
            kept.append(store.keep(cast("bytes", sent.key), received, quota=sent.quota()))
        except resumable.Full:
            not_kept.append(intake.message("not_kept", name=received.name))
    return kept, not_kept


def described(key: bytes | None, kept: list[resumable.PendingUpload]) -> list[Kept]:
    # a file is kept for a form session that has a key
    return [{"id": u.id, "name": u.name(cast("bytes", key)), "size": u.clean["size"]} for u in kept]


@contextmanager
def work_folder() -> Iterator[str]:
    """A private folder in RAM for one request's files, gone afterwards whatever happens."""
    workdir = tempfile.mkdtemp(dir=current_app.config["UPLOAD_WORKDIR"])
    try:
        yield workdir
    finally:
        intake.discard(workdir)
