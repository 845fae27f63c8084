"""The upload flow of every form with files (app/uploads/formfiles.py), driven without a request: files sent with
the form, files kept after an error and sent again by name, a refused file beside a good one, a removed file, a
declined save."""

import io

import pytest
from werkzeug.datastructures import FileStorage

from app.uploads import formfiles, resumable, sealing
from app.uploads.stores import resumable_store
from tests import files

QUOTA = resumable.Quota(2**30)


def chosen(name: str, data: bytes) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


@pytest.fixture
def key(app):
    with app.test_request_context():  # (no request is read: the messages' language wants one)
        yield sealing.new_key()


def take(key, valid=True, save=None, **sent):
    saves = []

    def store(clean):
        saves.append([(f.name, f.type, f.size) for f in clean])
        return "stored"

    taken = formfiles.take(formfiles.Sent(key, lambda: QUOTA, **sent), valid=lambda: valid, save=save or store)
    return taken, saves


def test_a_valid_form_hands_its_files_clean_to_save(key):
    taken, saves = take(key, files=[chosen("a.jpg", files.jpeg(orientation=6))])
    assert taken.saved == "stored" and taken.messages == [] and taken.kept == []
    [[(name, kind, size)]] = saves
    assert (name, kind) == ("a.jpg", "image/jpeg") and size > 0


def test_a_refused_form_keeps_its_files_and_the_next_try_sends_them_by_name(key):
    first, saves = take(key, valid=False, files=[chosen("a.png", files.png())])
    assert saves == [] and first.messages == []
    [kept] = first.kept
    assert (kept["name"], len(kept["id"])) == ("a.png", resumable.ID_LENGTH)
    second, saves = take(key, named=[kept["id"]])
    assert second.saved == "stored" and saves[0][0][:2] == ("a.png", "image/png")
    assert resumable_store().get(key, kept["id"]) is None  # taken with the form: gone from the store


def test_one_bad_file_refuses_the_form_and_keeps_the_good_one(key):
    taken, saves = take(key, files=[chosen("a.jpg", files.jpeg()), chosen("b.jpg", b"not a picture")])
    assert saves == [] and taken.saved is None
    assert [k["name"] for k in taken.kept] == ["a.jpg"]
    assert len(taken.messages) == 1 and "b.jpg" in taken.messages[0]


def test_a_form_never_goes_without_a_file_it_names(key):
    taken, saves = take(key, named=["0" * resumable.ID_LENGTH])
    assert saves == [] and taken.saved is None
    assert taken.messages == [formfiles.intake.message("gone")]


def test_a_removed_file_is_deleted_and_nothing_is_checked(key):
    first, _saves = take(key, valid=False, files=[chosen("a.png", files.png())])
    upload_id = first.kept[0]["id"]
    removed, saves = take(key, valid=False, named=[upload_id], remove=upload_id)
    assert removed.removed and removed.kept == [] and removed.messages == [] and saves == []
    assert resumable_store().get(key, upload_id) is None


def test_a_declined_save_leaves_the_kept_files_in_the_store(key):
    first, _saves = take(key, valid=False, files=[chosen("a.png", files.png())])
    upload_id = first.kept[0]["id"]
    declined, _saves = take(key, named=[upload_id], save=lambda clean: None)
    assert declined.declined and declined.saved is None
    assert resumable_store().get(key, upload_id) is not None
