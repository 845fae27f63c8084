"""Faults: the database away or failing mid-write, the file store failing mid-submission, many writers at
once. The visitor gets a clear answer, and nothing is left half-written: no row, no orphan file."""

import io
import os
import threading
import urllib.parse
import urllib.request

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Submission
from app.uploads.local import LocalStorage
from tests import files
from tests.browser import LiveServer
from tests.helpers import make_app, work_leftovers

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def stored(app) -> list[str]:
    root = app.config["STORAGE_URL"]
    return os.listdir(root) if os.path.isdir(root) else []


def with_photos(**fields):
    return {
        "telegram": "fault_case",
        "body": "Text that must not be lost.",
        "attachments": [(io.BytesIO(files.jpeg(size=(60 + i, 40))), f"p{i}.jpg") for i in range(3)],
    } | fields


def test_database_unreachable_gives_a_friendly_503_and_stores_no_file(tmp_path):
    app = make_app(tmp_path, DATABASE_URL=UNREACHABLE)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    sent = client.post("/submit/information", data=with_photos(), content_type="multipart/form-data")
    assert sent.status_code == 503 and "Nothing you sent was saved half-way" in sent.get_data(as_text=True)
    assert stored(app) == []
    # Pages that need no database still work.
    assert client.get("/help/telegram").status_code == 200


def test_database_failing_mid_submission_leaves_no_row_and_no_file(app, client):
    with app.app_context():
        db.session.execute(text("DROP TABLE events"))  # the audit insert, after the files, will fail
        db.session.commit()
    response = client.post("/submit/information", data=with_photos(), content_type="multipart/form-data")
    assert response.status_code == 503
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 0
    assert stored(app) == []


class FailingStorage(LocalStorage):
    """The real local store, whose second copy fails with an I/O error, as a broken disk would."""

    def __init__(self, root):
        super().__init__(root)
        self.writes = 0

    def put_file(self, source_path, key):
        self.writes += 1
        super().put_file(source_path + ".unreadable" if self.writes == 2 else source_path, key)


def test_storage_failing_mid_submission_leaves_no_row_and_no_file(app, client, monkeypatch):
    monkeypatch.setattr("app.submit.routes.app_storage", lambda: FailingStorage(app.config["STORAGE_URL"]))
    response = client.post("/submit/information", data=with_photos(), content_type="multipart/form-data")
    assert response.status_code == 503
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 0
    assert stored(app) == []
    assert work_leftovers(app) == []


def test_twenty_concurrent_submitters_all_get_a_receipt(tmp_path, caplog):
    app = make_app(tmp_path)
    with app.app_context():
        db.drop_all()
        db.create_all()
    results, start = [], threading.Barrier(20)

    def submit(n):
        body = urllib.parse.urlencode(
            {
                "telegram": f"writer_{n:02d}",
                "body": f"Concurrent text {n}",
                "title": f"Title {n}",
                "category": "housing",
            }
        ).encode()
        start.wait()
        request = urllib.request.Request(f"{server.url}/submit/ad", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                results.append((response.status, b'id="receipt-code"' in response.read()))
        except urllib.error.HTTPError as error:
            results.append((error.code, False))

    with LiveServer(app) as server:
        threads = [threading.Thread(target=submit, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [(200, True)] * 20
    assert "locked" not in caplog.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 20
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
