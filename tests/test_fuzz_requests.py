"""Malformed requests to every public route: broken multipart bodies (wrong boundary, missing parts, a
thousand parts, a huge field, junk bytes) and odd headers. Never a 500, never a half-stored item."""

import io
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.models import Attachment, Submission
from tests.helpers import count, make_app
from tests.routes import public_posts, url_of

PUBLIC_POSTS = public_posts()


@pytest.fixture
def public_gets(app):
    staff = ("/moderation", "/admin", "/auth/password", "/auth/totp", "/auth/logout", "/static")
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.rule.startswith(staff):
            urls.append(url_of(rule))
    return sorted(set(urls))


def stored_nothing(app):
    assert count(app, Submission) == 0 and count(app, Attachment) == 0
    root = app.config["STORAGE_URL"]
    assert not os.path.isdir(root) or os.listdir(root) == []


names = st.sampled_from(
    [
        "telegram",
        "body",
        "title",
        "category",
        "city",
        "purpose",
        "attachments",
        "code",
        "reason",
        "lang",
        "",
        "x" * 300,
        "bo\x00dy",
        'a"b',
    ]
)
part = st.tuples(
    names,
    st.one_of(st.none(), st.sampled_from(["a.jpg", "", "../../etc/passwd", "x.pdf", 'ä"\r\n.png'])),
    st.binary(max_size=200),
)


def multipart(parts, boundary: bytes, *, cut: int | None, close: bool) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode("utf-8", "replace")
        body += b"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    if close:
        body += b"--" + boundary + b"--\r\n"
    return body[:cut] if cut is not None else body


@given(
    parts=st.lists(part, max_size=8),
    boundary=st.sampled_from([b"XyZ", b"a" * 70, b"--", b"\xff"]),
    declared=st.sampled_from(["same", "other", "missing", "quoted"]),
    cut=st.one_of(st.none(), st.integers(0, 400)),
    close=st.booleans(),
    url=st.sampled_from(PUBLIC_POSTS),
)
def test_broken_multipart_bodies_never_cause_a_server_error(app, client, parts, boundary, declared, cut, close, url):
    body = multipart(parts, boundary, cut=cut, close=close)
    header_boundary = {
        "same": boundary.decode("latin-1"),
        "other": "Different",
        "missing": None,
        "quoted": f'"{boundary.decode("latin-1")}"',
    }[declared]
    content_type = "multipart/form-data" + (f"; boundary={header_boundary}" if header_boundary else "")
    response = client.post(url, data=body, content_type=content_type)
    assert response.status_code < 500, (url, response.status_code)
    # Valid fields may yet arrive: only a complete, valid form stores anything, and then a whole item.
    if response.status_code != 200 or not url.startswith("/submit/"):
        stored_nothing(app)


@given(
    junk=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "multipart/form-data; boundary=z",
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/mixed",
            "",
            "multipart/form-data; boundary=" + "b" * 2000,
        ]
    ),
    url=st.sampled_from(PUBLIC_POSTS),
)
def test_junk_bodies_never_cause_a_server_error(app, client, junk, content_type, url):
    response = client.post(url, data=junk, content_type=content_type)
    assert response.status_code < 500, (url, content_type, response.status_code)
    stored_nothing(app)


def test_a_thousand_parts_are_refused_with_a_friendly_413(app, client):
    body = multipart([("body", None, b"x")] * 1000, b"B", cut=None, close=True)
    response = client.post("/submit/information", data=body, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    stored_nothing(app)


def test_a_huge_text_field_is_refused_with_a_friendly_413(app, client):
    body = multipart([("telegram", None, b"anna_k"), ("body", None, b"x" * 2_000_000)], b"B", cut=None, close=True)
    response = client.post("/submit/information", data=body, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 413
    stored_nothing(app)


def test_a_request_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    app = make_app(tmp_path, MAX_CONTENT_LENGTH=10_000)
    response = app.test_client().post(
        "/submit/information", data=b"x" * 20_000, content_type="multipart/form-data; boundary=B"
    )
    assert response.status_code == 413


odd_headers = st.dictionaries(
    st.sampled_from(
        [
            "Accept-Language",
            "HX-Request",
            "HX-Target",
            "HX-Boosted",
            "HX-Current-URL",
            "Cookie",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "Host",
            "Referer",
            "If-Modified-Since",
            "Range",
            "Accept",
            "User-Agent",
            "Content-Type",
        ]
    ),
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300),
        st.sampled_from(
            [
                "*;q=x",
                "ru;q=0.5, be;q=1, xx",
                "true",
                "prystan_lang=zz; prystan_session=junk",
                "bytes=9-1",
                "multipart/form-data",
                "\u00e9\u00e8",
            ]
        ),
    ).map(lambda s: s.encode("latin-1", "ignore").decode("latin-1")),
    max_size=5,
)


@given(headers=odd_headers, method=st.sampled_from(["GET", "POST", "HEAD"]))
def test_odd_headers_on_every_public_route_never_cause_a_server_error(app, client, public_gets, headers, method):
    for url in public_gets + (PUBLIC_POSTS if method == "POST" else []):
        response = client.open(url, method=method, headers=headers)
        assert response.status_code < 500, (url, method, headers, response.status_code)
    stored_nothing(app)


@pytest.mark.parametrize("host", [".", "a..b", "x" * 70 + ".org"])
def test_a_host_no_address_can_be_built_for_gets_a_plain_400(client, host):
    """Found by the fuzzer: with such a Host the error page could build no link, and failed with a 500."""
    response = client.get("/ads", headers={"Host": host, "Accept-Language": "ru"})
    assert response.status_code == 400
    assert response.content_type.startswith("text/plain")
    assert "Не удалось обработать запрос" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", PUBLIC_POSTS)
def test_a_file_where_text_is_expected_is_just_missing_text(app, client, url):
    """Found by the fuzzer: a file part named like a text field reached code that expects text."""
    fields = ["telegram", "body", "title", "code", "reason", "note", "username", "password", "lang", "confirm"]
    data = {name: (io.BytesIO(b"x"), "a.jpg") for name in fields}
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code < 500, (url, response.status_code)
    stored_nothing(app)


# --- Numbers where ids are expected: never an overflow (issue 13, item 6) ------------------------------------------

HUGE = ["99999999999999999999999", str(2**63), str(2**31), "0", "²", "1e9", "-1"]
ID_PATHS = [
    "/ads/{n}",
    "/ads/{n}-slug",
    "/ads/images/{n}",
    "/ads/images/{n}/thumb",
    "/moderation/{n}",
    "/moderation/attachments/{n}",
    "/moderation/attachments/{n}/preview",
    "/admin/users/{n}",
]


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize("path", ID_PATHS)
def test_huge_ids_in_paths_are_not_found(app, client, path, number):
    from tests.helpers import make_user, sign_in

    sign_in(client, app, make_user(app, "ada", "admin"))
    assert client.get(path.format(n=number)).status_code == 404


@given(
    cursor=st.one_of(
        st.text(max_size=60),
        st.integers().map(lambda n: f"2026-11-20T10:00:00_{n}"),
        st.sampled_from(
            ["9999-12-31T23:59:59.999999_1", "0001-01-01T00:00:00_1", "2026-11-20T10:00:00_" + "9" * 40, "_", "x_1"]
        ),
    )
)
def test_odd_cursors_never_cause_a_server_error(app, client, cursor):
    assert client.get("/ads", query_string={"after": cursor}).status_code == 200


def test_odd_numbers_in_staff_queries_and_forms_never_cause_a_server_error(app, client):
    from tests.helpers import make_submission, make_user, sign_in

    make_submission(app)
    sign_in(client, app, make_user(app, "ada", "admin"))
    for value in ("9" * 30, str(2**63), "-5", "²"):
        assert client.get("/moderation", query_string={"after": f"2026-11-20T10:00:00_{value}"}).status_code == 200
        assert client.get("/moderation/new", query_string={"last": value}).status_code == 200
        assert client.get("/admin/audit", query_string={"before": value, "submission": value}).status_code == 200
        assert client.post("/moderation/1/approve", data={"version": value}).status_code in (303, 422)
        assert client.post("/moderation/spam", data={"item": f"{value}:{value}"}).status_code == 303
    assert client.post("/moderation/1/approve", data={"version": "1", "public_image": "9" * 30}).status_code == 303
