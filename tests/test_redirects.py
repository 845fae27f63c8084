"""Every redirect target a client chooses goes through one check: a path on this site, after what browsers strip."""

import pytest

from app.redirects import local_path
from tests.helpers import make_user

HOSTILE = [
    "//evil.example/",
    "///evil.example/",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example/",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    " /x",
    "/ /x",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "data:text/html,x",
    "evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0d%0a/evil",
    "\x00/x",
    "/x\x00",
    "/\u2028x",
    "",
]
FINE = [
    "/",
    "/moderation",
    "/moderation?kind=ad&q=work%20room",
    "/ads/12-bike#top",
    "/status",
    "/ads?q=%D1%81%D1%8F%D0%BC",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_targets_off_this_site_are_refused(target):
    assert local_path(target, "/fallback") == "/fallback"


@pytest.mark.parametrize("target", FINE)
def test_paths_on_this_site_are_kept(target):
    assert local_path(target) == target


@pytest.mark.parametrize(
    "target", ["/%09/evil.example/", "/\t/evil.example/", "//evil.example", "/\\evil.example", "https://evil.example/"]
)
def test_sign_in_never_sends_a_moderator_off_site(app, client, target):
    make_user(app, "olga")
    client.get("/auth/login", query_string={"next": target})
    response = client.post(
        "/auth/login", data={"username": "olga", "password": "correct horse battery", "next": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/moderation"


def test_sign_in_goes_on_to_a_page_of_this_site(app, client):
    make_user(app, "olga")
    response = client.post(
        "/auth/login", data={"username": "olga", "password": "correct horse battery", "next": "/moderation/7"}
    )
    assert response.headers["Location"] == "/moderation/7"


@pytest.mark.parametrize("target", ["/%09/evil.example/", "//evil.example", "/\\evil.example"])
def test_the_language_switch_uses_the_same_check(client, target):
    response = client.get("/language/ru", query_string={"next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"
