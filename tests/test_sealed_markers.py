"""A copy of the database as an attacker would take it (issue 25, item 6): after the three forms are sent, read,
written to, noted, answered, rejected, reported, one ad approved and another withdrawn, no word anyone typed is in
the SQLite file, its -wal and -shm, or in pg_dump's output, except the public fields of the one approved ad, which
are in its public copy (and the full-text index over it) only."""

import io
import re
import subprocess

import pytest
from sqlalchemy import select, text

from app import staff
from app.extensions import db
from app.models import Submission
from tests.files import jpeg
from tests.helpers import PASSWORD, receipt_from, sign_in
from tests.test_retention import database_bytes

# Every marker is a word no page or table holds otherwise.
PUBLIC = {"title": "Vermilionpublic", "body": "Cobaltpublicbody words", "city": "Umberpubliccity"}
PRIVATE = {
    "information": {"telegram": "mk_infohandle", "title": "Saffroninfotitle", "body": "Indigoinfobody"},
    "contact": {"telegram": "mk_contacthandle", "purpose": "legal", "body": "Ceruleancontactbody"},
    "withdrawn": {
        "telegram": "mk_withdrawnhandle",
        "title": "Magentawithdrawntitle",
        "category": "goods",
        "city": "Ochrewithdrawncity",
        "body": "Carminewithdrawnbody",
    },
    "approved": {"telegram": "mk_approvedhandle", "category": "housing", **PUBLIC},  # its handle is not shown
}
WRITTEN = [
    "Viridianstaffmessage",
    "Sepiainternalnote",
    "Taupesenderanswer",
    "Amberrejectnote",
    "Ivoryreportnote",
    "Mauvefilename",
    "Lilacwithdrawnmessage",
]


def markers(fields: dict) -> list[str]:
    return [str(v) for k, v in fields.items() if k in ("telegram", "title", "body", "city")]


def send(client, kind: str, fields: dict) -> str:
    form = "ad" if kind in ("withdrawn", "approved") else kind
    photo = (io.BytesIO(jpeg()), f"{WRITTEN[5]}-{kind}.jpg")
    response = client.post(
        f"/submit/{form}", data=dict(fields, attachments=[photo]), content_type="multipart/form-data"
    )
    code = receipt_from(response.get_data(as_text=True))
    assert code, kind
    return code


def database_copy(app) -> bytes:
    """What a seized server gives: SQLite's files as they are, or a pg_dump of the database."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "sqlite":
        return database_bytes(app)
    address = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(["pg_dump", "--dbname", address], check=True, capture_output=True, timeout=120).stdout


def pg_table_files(app) -> bytes:
    """PostgreSQL's own files of every table, index and TOAST table of the database, as a seized disk holds them:
    after a CHECKPOINT (what the buffers held is written), read by the superuser with pg_read_binary_file."""
    query = """
        SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 't', 'i', 'm')
    """
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("CHECKPOINT")
        paths = [path for path in connection.exec_driver_sql(query).scalars() if path]
        read = text("SELECT pg_read_binary_file(CAST(:path AS text))")
        return b"".join(connection.execute(read, {"path": path}).scalar() or b"" for path in paths)


def postgresql_only(app) -> None:
    with app.app_context():
        if db.engine.url.get_backend_name() == "sqlite":
            pytest.skip("PostgreSQL's files: the PostgreSQL run (make test-postgres) checks them")


def found(data: bytes, marker: str) -> int:
    return data.count(marker.encode()) + data.count(marker.lower().encode())


@pytest.fixture
def worked(app, client):
    """The whole loop, through the site as people use it."""
    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    codes = {kind: send(client, kind, fields) for kind, fields in PRIVATE.items()}
    with app.app_context():
        ids = dict(zip(PRIVATE, db.session.scalars(select(Submission.id).order_by(Submission.id)), strict=True))
    sign_in(client, app, olga)
    for kind, item in ids.items():
        assert client.get(f"/moderation/{item}").status_code == 200
        assert client.post(f"/moderation/{item}/message", data={"message": f"{WRITTEN[0]} {kind}"}).status_code == 303
        assert (
            client.post(f"/moderation/{item}/note", data={"internal_note": f"{WRITTEN[1]} {kind}"}).status_code == 303
        )
    answer = client.post("/status/reply", data={"code": codes["information"], "reply": WRITTEN[2]})
    assert answer.status_code == 200 and WRITTEN[2] in answer.get_data(as_text=True)
    with app.app_context():
        versions = {kind: db.session.get(Submission, item).version for kind, item in ids.items()}
    rejected = client.post(
        f"/moderation/{ids['contact']}/reject",
        data={"version": versions["contact"], "reason": "off_topic", "note": WRITTEN[3]},
    )
    assert rejected.status_code == 303
    assert (
        client.post(f"/moderation/{ids['approved']}/approve", data={"version": versions["approved"]}).status_code == 303
    )
    with app.app_context():
        public_id = db.session.get(Submission, ids["approved"]).public_id
    client.post("/auth/logout")
    reported = client.post(f"/ads/{public_id}/report", data={"reason": "other", "note": WRITTEN[4]})
    assert reported.status_code == 303
    assert client.post("/status/withdraw", data={"code": codes["withdrawn"], "confirm": "y"}).status_code == 200
    with app.app_context():
        assert db.session.get(Submission, ids["withdrawn"]) is None
    return ids


def test_a_copy_of_the_database_holds_no_word_but_the_approved_ads_public_fields(app, client, worked):
    data = database_copy(app)
    for word in PUBLIC.values():  # the one thing published: the test sees what is in clear
        assert found(data, word.split()[0]) > 0, word
    private = [m for kind, fields in PRIVATE.items() if kind != "approved" for m in markers(fields)]
    private += [*WRITTEN, PRIVATE["approved"]["telegram"]]
    left = [marker for marker in private if found(data, marker)]
    assert left == []


def test_in_pg_dump_the_public_fields_are_in_the_public_copy_only(app, client, worked):
    postgresql_only(app)
    dump = database_copy(app).decode()
    blocks = re.split(r"\n(?=COPY )", dump)
    holding = {block.split("\n", 1)[0].split(" ")[1] for block in blocks if PUBLIC["title"] in block}
    assert holding == {"public.public_ads"}


def test_postgresql_table_files_hold_no_word_but_the_approved_ads_public_fields(app, client, worked):
    postgresql_only(app)
    data = pg_table_files(app)
    assert found(data, PUBLIC["title"]) > 0  # the reading works: the public copy is there
    private = [m for kind, fields in PRIVATE.items() if kind != "approved" for m in markers(fields)]
    private += [*WRITTEN, PRIVATE["approved"]["telegram"]]
    assert [marker for marker in private if found(data, marker)] == []
