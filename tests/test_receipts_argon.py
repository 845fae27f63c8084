"""The receipt opens its submission through Argon2id (AT-REST.md, "Receipt"): the lookup digest is derived from the
code and the site's salt, one derivation per request at most, none once the limit of wrong codes is spent, a bound
on derivations at once on the machine (503 "busy" after the wait, never a blocked thread), and receipts issued
before still open, once, and lose their HMAC digest then."""

import base64
import hashlib
import io
import os
import re
import threading
import time
import uuid

import pytest
from argon2 import Type
from argon2.low_level import hash_secret_raw
from nacl.pwhash import argon2id
from sqlalchemy import select

from app import receipts
from app.config import Defaults
from app.crypto import receipts as receipt_keys
from app.crypto import sodium
from app.extensions import db
from app.models import KeySetting, Submission
from app.security import legacy_receipt_key
from tests.helpers import count, errors_in, make_submission, receipt_from
from tests.test_i18n import translate
from tests.test_status import NOT_FOUND
from tests.test_threads import write

BUSY = "The site is busy. Wait a moment and try again."
WRONG = "1111 2222 3333 4444"


@pytest.fixture
def derivations(monkeypatch):
    """Every derivation made from now on, counted (the real one is still made)."""
    calls = []
    real = receipt_keys.derive

    def counted(code):
        calls.append(code)
        return real(code)

    monkeypatch.setattr("app.crypto.receipts.derive", counted)
    return calls


def limited(**settings):
    # Keys of their own, should the limiter's storage be shared (Redis) with other tests.
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"} | settings


def stored_digest(app, item_id):
    with app.app_context():
        return db.session.get(Submission, item_id).receipt_digest


# --- the derivation -------------------------------------------------------------------------------------------


def test_the_lookup_and_the_key_are_argon2id_of_the_code_and_the_salt_split_with_blake2b(app):
    """Recomputed with argon2-cffi and hashlib from the stored salt: the settings are the costs actually paid."""
    app.config.update(RECEIPT_OPSLIMIT=2, RECEIPT_MEMLIMIT=16 * 1024)
    code = "0123456789012345"
    with app.app_context():
        derived = receipt_keys.derive(code)
        salt = base64.b64decode(db.session.get(KeySetting, "receipt_salt").value)
    assert len(salt) == 16
    master = hash_secret_raw(code.encode(), salt, 2, 16, 1, 32, Type.ID, version=19)

    def part(name):
        return hashlib.blake2b(name, key=master, person=b"prystan-split", digest_size=32).digest()

    assert derived.lookup == part(b"lookup").hex()
    assert derived.key == part(b"receipt key")
    assert len(derived.key) == 32 and derived.key != part(b"lookup")


def test_a_submission_stores_the_derived_lookup_and_never_the_hmac(app):
    item_id, code = make_submission(app)
    with app.app_context():
        assert stored_digest(app, item_id) == receipt_keys.derive(code).lookup
        assert stored_digest(app, item_id) != receipts.legacy_digest(code, legacy_receipt_key())
        assert code not in stored_digest(app, item_id)


def test_the_salt_is_made_once_and_a_kept_one_is_never_replaced(app, tmp_path):
    with app.app_context():
        first = receipt_keys.site_salt()
        assert receipt_keys.site_salt() == first
        db.session.commit()
        db.session.get(KeySetting, "receipt_salt").value = base64.b64encode(bytes(16)).decode()
        db.session.commit()
        assert receipt_keys.site_salt() == bytes(16)  # read back, not made again
        assert count(app, KeySetting) == 1
    with app.app_context():  # another site: another salt, so another digest for the same code
        db.session.delete(db.session.get(KeySetting, "receipt_salt"))
        db.session.commit()
        assert receipt_keys.site_salt() not in (first, bytes(16))


def test_only_a_code_of_16_digits_is_derived(app):
    with app.app_context():
        for bad in ("1234", "1234 5678 9012 3456", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "x" * 16):
            with pytest.raises(ValueError, match="16 digits"):
                receipt_keys.derive(bad)


# --- what a request costs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [limited(STATUS_RATELIMIT="1 per hour")])
def test_with_the_limit_spent_50_further_posts_run_the_derivation_0_times(app, client, derivations):
    _, code = make_submission(app, "ad", status="approved")
    assert NOT_FOUND in client.post("/status", data={"code": WRONG}).get_data(as_text=True)  # the limit, spent
    derivations.clear()
    actions = {
        "/status": {},
        "/status/reply": {"reply": "An answer."},
        "/status/edit": {"title": "New", "body": "New text.", "category": "housing", "city": "Minsk"},
        "/status/renew": {},
        "/status/close": {},
        "/status/withdraw": {"confirm": "y"},
    }
    answers = []
    for n in range(50):
        url = list(actions)[n % len(actions)]
        typed = code if n % 2 else f"{n:016d}"  # right codes and wrong ones alike
        answers.append(client.post(url, data={"code": typed} | actions[url]).status_code)
    assert answers == [429] * 50
    assert derivations == []
    assert count(app, Submission) == 1


@pytest.mark.parametrize("app_config", [limited(STATUS_RATELIMIT="100 per hour")])
def test_a_request_derives_once_for_a_right_code_and_once_for_a_wrong_one(app, client, moderator, derivations):
    item_id, code = make_submission(app)
    write(moderator, item_id)  # a question, so that the answer below is taken
    submitter = app.test_client()
    derivations.clear()
    for url, fields in {"/status": {}, "/status/reply": {"reply": "The north colony."}}.items():
        for typed in (code, WRONG):
            derivations.clear()
            html = submitter.post(url, data={"code": typed} | fields).get_data(as_text=True)
            assert (NOT_FOUND in html) is (typed == WRONG), (url, typed)
            assert len(derivations) == 1, (url, typed)
    derivations.clear()
    assert submitter.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
    assert len(derivations) == 1
    assert count(app, Submission) == 0


def test_a_malformed_code_costs_no_derivation(client, derivations):
    for typed in ("", "1234", "abcd efgh ijkl mnop", "1" * 17):
        client.post("/status", data={"code": typed})
        client.post("/status/withdraw", data={"code": typed, "confirm": "y"})
    assert derivations == []


def test_derive_once_refuses_a_second_code_in_one_request(app, derivations):
    from app.submit.status import derive_once

    with app.test_request_context("/status", method="POST"):
        first = derive_once("1234567812345678")
        assert derive_once("1234567812345678") is first
        with pytest.raises(ValueError, match="one receipt code per request"):
            derive_once("8765432187654321")
    assert derivations == ["1234567812345678"]


def test_a_form_derives_its_receipt_in_another_thread_while_its_files_are_scrubbed(app, client, monkeypatch):
    """AT-REST.md, "Costs to keep in view": the receipt's Argon2id runs while the sandbox scrubs the files: it
    begins after the files passed their checks and before the scrub has ended, in a thread of its own."""
    from app.uploads import formfiles, intake
    from tests.test_sealed_files import noise_png

    events, deriving, scrubbing = [], threading.Event(), threading.Event()
    real_argon2, real_rebuild = sodium.argon2, intake.rebuild

    def argon2(*args, **kwargs):
        events.append(("derive", threading.current_thread(), scrubbing.wait(5)))  # (a derivation made before the
        deriving.set()  # scrub, and waited for, would wait here in vain)
        return real_argon2(*args, **kwargs)

    def rebuild(*args, **kwargs):
        scrubbing.set()
        result = real_rebuild(*args, **kwargs)
        deriving.wait(5)  # (a slow machine's thread may start late; derived after the scrub, it never comes)
        events.append(("scrubbed", threading.current_thread(), True))
        return result

    monkeypatch.setattr(sodium, "argon2", argon2)
    monkeypatch.setattr(formfiles.intake, "rebuild", rebuild)
    data = {"telegram": "anna_k1", "body": "A photo.", "attachments": [(io.BytesIO(noise_png()), "a.png")]}
    html = client.post("/submit/information", data=data, content_type="multipart/form-data").get_data(as_text=True)
    code = receipt_from(html)
    assert code
    assert [name for name, _, _ in events] == ["derive", "scrubbed"]  # begun before the scrub ended, once
    assert events[0][2], "the derivation began only once the scrub was over"
    assert events[0][1] is not events[1][1]  # in a thread of its own
    with app.app_context():
        stored = db.session.scalars(select(Submission)).one()
        assert stored.receipt_digest == receipt_keys.derive(receipts.parse(code)).lookup
        assert len(stored.attachments) == 1


def test_a_form_whose_file_is_refused_before_the_scrub_derives_nothing(client, monkeypatch):
    calls = []
    monkeypatch.setattr(sodium, "argon2", lambda *args, **kwargs: calls.append(1))
    data = {"telegram": "anna_k1", "body": "A file.", "attachments": [(io.BytesIO(b"not a photo"), "a.png")]}
    response = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    for thread in threading.enumerate():  # (a derivation started anyway would be running in one of these)
        if thread.name == "receipt":
            thread.join(5)
    assert calls == []


# --- what a code opens ----------------------------------------------------------------------------------------


def test_a_right_code_opens_its_item_and_a_wrong_one_the_same_page_whether_or_not_items_exist(app, client):
    def wrong_answer():
        response = client.post("/status", data={"code": WRONG})
        return response.status_code, response.get_data(as_text=True)

    nothing_yet = wrong_answer()
    _, code = make_submission(app, "ad", title="Warm coat for a child")
    make_submission(app, "information")
    opened = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Warm coat for a child" in opened and not errors_in(opened)
    assert wrong_answer() == nothing_yet
    assert errors_in(nothing_yet[1]) == [NOT_FOUND]
    assert "Warm coat for a child" not in nothing_yet[1]


def test_a_receipt_issued_before_opens_and_its_hmac_digest_is_replaced(app, client, derivations):
    item_id, code = make_submission(app, "ad", title="Sofa, free")
    with app.app_context():
        legacy = receipts.legacy_digest(code, legacy_receipt_key())
        new = receipt_keys.derive(code).lookup
        db.session.get(Submission, item_id).receipt_digest = legacy  # as every receipt was stored before
        db.session.commit()
    derivations.clear()
    html = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Sofa, free" in html
    assert len(derivations) == 1
    assert stored_digest(app, item_id) == new
    with app.app_context():
        digests = db.session.scalars(select(Submission.receipt_digest)).all()
        assert legacy not in digests
        assert db.session.scalar(select(Submission).where(Submission.receipt_digest == legacy)) is None
    # ...and it keeps opening, now by the new digest alone.
    assert "Sofa, free" in client.post("/status", data={"code": " ".join(re.findall(".{4}", code))}).get_data(
        as_text=True
    )


def test_an_hmac_digest_of_another_key_opens_nothing(app, client):
    item_id, code = make_submission(app)
    with app.app_context():
        db.session.get(Submission, item_id).receipt_digest = receipts.legacy_digest(code, b"another site's key")
        db.session.commit()
    assert errors_in(client.post("/status", data={"code": code}).get_data(as_text=True)) == [NOT_FOUND]


# --- the bound on derivations at once -------------------------------------------------------------------------


def hold_every_slot(app):
    with app.app_context():
        folder, total = receipt_keys.slot_dir(), receipt_keys.slots()
        held = [receipt_keys.try_slot(folder, total) for _ in range(total)]
    assert None not in held and receipt_keys.try_slot(folder, total) is None
    return held


def release(held):
    for fd in held:
        os.close(fd)


@pytest.mark.parametrize("app_config", [{"RECEIPT_SLOT_WAIT_SECONDS": 0.4, "RECEIPT_CONCURRENCY": 2}])
def test_with_every_slot_taken_the_status_page_answers_busy_in_time_and_keeps_the_code(app, client):
    _, code = make_submission(app)
    typed = " ".join(re.findall(".{4}", code))
    held = hold_every_slot(app)
    try:
        started = time.monotonic()
        response = client.post("/status", data={"code": typed})
        waited = time.monotonic() - started
    finally:
        release(held)
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert BUSY in html
    assert re.search(rf'name="code"[^>]*value="{typed}"', html), "the code typed is kept in the form"
    assert 0.4 <= waited < 2
    assert "Waiting for moderation" in client.post("/status", data={"code": typed}).get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RECEIPT_SLOT_WAIT_SECONDS": 0.2}])
def test_busy_in_translation_and_on_an_action_and_a_public_form(app, client):
    _, code = make_submission(app)
    held = hold_every_slot(app)
    try:
        reply = client.post("/status/reply", data={"code": code, "reply": "An answer."})
        client.set_cookie("prystan_lang", "ru")
        translated = client.post("/status", data={"code": code})
        client.set_cookie("prystan_lang", "en")
        form = client.post("/submit/information", data={"telegram": "anna_k1", "body": "What I saw on Monday."})
    finally:
        release(held)
    assert reply.status_code == 503 and BUSY in reply.get_data(as_text=True)
    assert code in reply.get_data(as_text=True)
    assert form.status_code == 503 and BUSY in form.get_data(as_text=True)
    assert "What I saw on Monday." in form.get_data(as_text=True)  # what was typed is kept
    assert count(app, Submission) == 1  # the form was not taken: nothing half-stored
    assert translated.status_code == 503 and 'lang="ru"' in translated.get_data(as_text=True)
    assert translate("ru", BUSY) in translated.get_data(as_text=True)  # (once the catalogs have it)


def test_no_more_derivations_run_at_once_than_the_setting_allows(app, monkeypatch):
    app.config.update(RECEIPT_CONCURRENCY=2, RECEIPT_SLOT_WAIT_SECONDS=10)
    running, most, lock = [0], [0], threading.Lock()
    real = sodium.argon2

    def slow(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return real(*args, **kwargs)

    with app.app_context():
        receipt_keys.site_salt()
        db.session.commit()
    monkeypatch.setattr(sodium, "argon2", slow)
    results = []

    def one(n):
        with app.app_context():
            results.append(receipt_keys.derive(f"{n:016d}"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert most[0] == 2


def test_the_hourly_clean_up_keeps_the_lock_files(app):
    """`flask uploads gc` removes old work folders, not the turns' lock files: a turn held on a removed file would
    not be seen by the next request, and the bound would be broken."""
    from app.uploads.gc import abandoned_work

    with app.app_context():
        folder = receipt_keys.slot_dir()
        held = receipt_keys.try_slot(folder, 1)
    os.utime(folder, (0, 0))
    try:
        abandoned_work(app.config["UPLOAD_WORKDIR"], cutoff=time.time())
        assert os.path.isfile(os.path.join(folder, "slot-0"))
        assert receipt_keys.try_slot(folder, 1) is None
    finally:
        os.close(held)


# --- the settings ---------------------------------------------------------------------------------------------


def test_the_receipt_costs_in_production_and_in_the_tests(app):
    """Production: 3 passes over 64 MiB, measured at about 0.1 s on the 2-core machine (2 passes over 64 MiB:
    0.079 s), so a guess costs at least the ~0.05 s of 2 passes; memory-hard beyond the libsodium minimum, and no
    dearer than the key a password opens (anyone may ask for a receipt's). The tests run at the minimum."""
    ops, mem = Defaults.RECEIPT_OPSLIMIT, Defaults.RECEIPT_MEMLIMIT
    assert ops >= 2 and mem >= 64 * 2**20
    assert (ops, mem) > (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
    assert mem <= Defaults.KEK_MEMLIMIT and ops * mem < Defaults.KEK_OPSLIMIT * Defaults.KEK_MEMLIMIT
    assert Defaults.RECEIPT_SLOT_WAIT_SECONDS == 2
    assert Defaults.RECEIPT_CONCURRENCY is None  # the number of cores
    assert (app.config["RECEIPT_OPSLIMIT"], app.config["RECEIPT_MEMLIMIT"]) == sodium.ARGON2_MIN
