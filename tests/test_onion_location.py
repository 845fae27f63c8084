"""Onion-Location (ONION_LOCATION): public pages on the public address name the same page on the onion service;
staff pages, other responses and the onion itself do not (issue 17, item 4)."""

import pytest

from tests.helpers import make_user
from tests.test_addresses import ONION, PUBLIC

ON = {"PUBLIC_URL": PUBLIC, "ONION_URL": ONION, "ONION_LOCATION": True}


def onion_location(client, url: str, base: str = PUBLIC):
    return client.get(url, base_url=base).headers.get("Onion-Location")


@pytest.mark.parametrize("app_config", [ON])
def test_public_pages_name_the_same_page_on_the_onion(client):
    assert onion_location(client, "/") == ONION + "/"
    assert onion_location(client, "/ads?q=room&city=Vilnius") == ONION + "/ads?q=room&city=Vilnius"
    assert onion_location(client, "/ads?q=%D0%BC%D0%B8%D1%80") == ONION + "/ads?q=%D0%BC%D0%B8%D1%80"
    assert onion_location(client, "/articles") == ONION + "/articles"
    for form in ("/submit/information", "/submit/contact?purpose=job", "/submit/ad", "/status"):
        assert onion_location(client, form) == ONION + form
    # Served on the onion itself: no header (Tor Browser would loop).
    assert onion_location(client, "/", base=ONION) is None
    assert onion_location(client, "/submit/information", base=ONION) is None


@pytest.mark.parametrize("app_config", [ON])
def test_staff_pages_and_other_responses_do_not(app, client):
    make_user(app, "olga", "moderator")
    for url in ("/auth/login", "/moderation", "/admin/users"):
        assert onion_location(client, url) is None, url
    # Not a page: feeds, the proof of work's challenge, a language switch's redirect.
    for url in ("/ads/feed.atom", "/pow/challenge", "/language/ru"):
        assert onion_location(client, url) is None, url


@pytest.mark.parametrize(
    "app_config", [{"PUBLIC_URL": PUBLIC, "ONION_URL": ONION}, {"PUBLIC_URL": PUBLIC, "ONION_LOCATION": True}]
)
def test_off_by_default_and_without_an_onion_address(client):
    assert onion_location(client, "/") is None
    assert onion_location(client, "/submit/information") is None
