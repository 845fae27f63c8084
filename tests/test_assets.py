"""Static files under addresses that name their content: cached for a year by that address, revalidated by any
other, and every page's static addresses carry the fingerprint."""

import hashlib
import os
import re
import shutil
from html.parser import HTMLParser

from flask import url_for

from app.assets import IMMUTABLE
from app.extensions import db
from app.models import Submission, User
from tests.helpers import approve, make_submission, make_user, public_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fingerprint(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def address(app, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def own_static(app, tmp_path) -> str:
    """A copy of the static folder that the test may change."""
    folder = str(tmp_path / "static")
    shutil.copytree(os.path.join(ROOT, "static"), folder)
    app.static_folder = folder
    return folder


def test_the_address_names_the_content_and_changes_with_it(app, tmp_path):
    folder = own_static(app, tmp_path)
    css = os.path.join(folder, "css", "site.css")
    app.debug = True  # (in production a file is fingerprinted once per process: a release restarts the workers)
    first = address(app, "css/site.css")
    assert first == f"/static/css/site.css?v={fingerprint(css)}"
    with open(css, "a") as f:
        f.write("\n.new { color: red; }\n")
    os.utime(css, ns=(os.stat(css).st_atime_ns, os.stat(css).st_mtime_ns + 1_000_000))
    second = address(app, "css/site.css")
    assert second != first and second == f"/static/css/site.css?v={fingerprint(css)}"
    assert address(app, "css/missing.css") == "/static/css/missing.css"  # no file: nothing to name


def test_outside_debug_a_fingerprint_is_worked_out_once(app, tmp_path):
    folder = own_static(app, tmp_path)
    first = address(app, "js/exit.js")
    with open(os.path.join(folder, "js", "exit.js"), "a") as f:
        f.write("\n// changed\n")
    assert address(app, "js/exit.js") == first


def test_the_current_address_is_immutable_and_any_other_revalidates(app, client):
    current = address(app, "js/htmx.min.js")
    response = client.get(current)
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    for stale in ("/static/js/htmx.min.js", "/static/js/htmx.min.js?v=0123456789ab"):
        response = client.get(stale)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache", stale
        assert response.headers["ETag"] == etag
        assert response.data == client.get(current).data  # an old address gets today's file, never an old one
        again = client.get(stale, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["Cache-Control"] == "no-cache"
    assert client.get("/static/js/nothing.js?v=0123456789ab").status_code == 404


class StaticAddresses(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value and value.startswith("/static/"):
                self.found.append(value)


def static_addresses(html: str) -> list[str]:
    parser = StaticAddresses()
    parser.feed(html)
    return parser.found


def test_every_static_address_on_the_main_pages_carries_its_fingerprint(app, client):
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Some bike")
    with app.app_context():
        approve(ad, db.session.get(Submission, ad).version, db.session.get(User, mod))
    pages = ["/", "/ads", f"/ads/{public_id(app, ad)}-some-bike", "/articles", "/submit/information", "/submit/ad"]
    for page in pages:
        for _ in range(2):  # made, then from the page cache
            html = client.get(page).get_data(as_text=True)
            found = static_addresses(html)
            assert "/static/js/htmx.min.js" in {a.split("?")[0] for a in found}, page
            assert "/static/css/site.css" in {a.split("?")[0] for a in found}, page
            for url in found:
                path, _, query = url.partition("?")
                filename = path.removeprefix("/static/")
                assert query == f"v={fingerprint(os.path.join(ROOT, 'static', filename))}", (page, url)
                assert client.get(url).headers["Cache-Control"] == IMMUTABLE, url
            # Nor anywhere else in the page (an inline address a parser of attributes would miss).
            assert not re.findall(r"/static/[^\s\"'<>?]+[\"'\s<>]", html), page
    assert "tus.min.js?v=" in client.get("/submit/ad").get_data(as_text=True)
    assert client.get("/favicon.ico").headers["Location"] == address(app, "favicon.svg")
