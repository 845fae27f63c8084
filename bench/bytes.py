"""Bytes of a reader's first and second visit to a page: the HTML and every static file it references.

    .venv/bin/python bench/bytes.py                 # prints a Markdown table (demo content, SQLite, in-process)

First visit: the HTML and each static file it names. Second visit, with the static files immutable-cached under
their fingerprinted addresses: the HTML alone, no request for a static file. The app compresses nothing, and
nginx (deploy/nginx) compresses only static files, never pages (BREACH): the HTML counts as sent; static files
are given raw, at gzip level 1 (nginx's default gzip_comp_level) and at gzip -6. Headers are counted apart, as
HTTP/1.1 text (HTTP/2 compresses them); a page's headers come from the app, not nginx.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app
from app.extensions import db

PAGES = ["/", "/ads", "/submit/information"]


class StaticAddresses(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value and value.startswith("/static/") and value not in self.found:
                self.found.append(value)


def header_bytes(response) -> int:
    lines = [f"HTTP/1.1 {response.status}"] + [f"{k}: {v}" for k, v in response.headers.items()]
    return len("\r\n".join(lines) + "\r\n\r\n")


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="prystan-bytes-")
    app = create_app(
        {
            "SECRET_KEY": "bytes-" + "k" * 40,
            "DATABASE_URL": f"sqlite:///{workdir}/bytes.db",
            "STORAGE_URL": f"{workdir}/uploads",
            "UPLOAD_WORKDIR": f"{workdir}/incoming",
            "RESUMABLE_DIR": f"{workdir}/resumable",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        from app.demo import load

        load(moderator_password="bytes-password-1", editor_password="bytes-password-2")
    client = app.test_client()
    print(
        "| Page | HTML (as sent) | its headers | static files | static raw | gzip -1 | gzip -6 "
        "| first visit, static gzip -1 / -6 | second visit | requests, first / second |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    files: dict[str, tuple[int, int, int]] = {}
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.data
        parser = StaticAddresses()
        parser.feed(html.decode())
        raw = level1 = level6 = 0
        for url in parser.found:
            static = client.get(url)
            assert static.status_code == 200 and "immutable" in static.headers["Cache-Control"], url
            data = static.data
            sizes = (len(data), len(gzip.compress(data, 1)), len(gzip.compress(data, 6)))
            files[url.split("?")[0]] = sizes
            raw, level1, level6 = raw + sizes[0], level1 + sizes[1], level6 + sizes[2]
        names = ", ".join(url.split("?")[0].removeprefix("/static/") for url in parser.found)
        print(
            f"| `{page}` | {len(html):,} | {header_bytes(response):,} | {names} | {raw:,} | {level1:,} | {level6:,} "
            f"| {len(html) + level1:,} / {len(html) + level6:,} | {len(html):,} | {1 + len(parser.found)} / 1 |"
        )
    print()
    print("| Static file | raw | gzip -1 | gzip -6 |")
    print("|---|---:|---:|---:|")
    for name, (raw, level1, level6) in sorted(files.items()):
        print(f"| `{name}` | {raw:,} | {level1:,} | {level6:,} |")
    # Before fingerprints a returning reader's browser asked again for each file (no max-age: a conditional
    # request answered 304), a round trip each; now it asks nothing.
    revalidation = client.get("/static/js/htmx.min.js")
    not_modified = client.get("/static/js/htmx.min.js", headers={"If-None-Match": revalidation.headers["ETag"]})
    print()
    print(f"A 304 for a static file without its fingerprint: {header_bytes(not_modified)} bytes of headers.")


if __name__ == "__main__":
    main()
