"""The site's addresses: absolute URLs come from the configured address a request came in on, unknown hosts are
refused, and no header a client sends can change what a later reader gets (issue 13, item 1)."""

import re

import pytest

from tests.helpers import make_app, public_id
from tests.test_ads import publish

PUBLIC = "https://prystan.example"
ONION = "http://prystanxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"
FEEDS = ("/ads/feed.atom", "/articles/feed.atom")


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": PUBLIC, "ONION_URL": ONION, "PROXY_HOPS": 1}


@pytest.fixture
def ad(app):
    from tests.helpers import make_user

    return publish(app, make_user(app, "mira", "moderator"), title="A room in Vilnius")[0]


def links(feed: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', feed)) | set(re.findall(r"<id>([^<]+)</id>", feed))


def read(client, url: str, base: str = PUBLIC, **headers) -> str:
    response = client.get(url, base_url=base, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_feeds_link_to_the_configured_address(app, client, ad):
    feed = read(client, "/ads/feed.atom")
    public = public_id(app, ad)
    assert links(feed) == {
        f"{PUBLIC}/ads",
        f"{PUBLIC}/ads/feed.atom",
        f"{PUBLIC}/ads/{public}",  # the entry's id
        f"{PUBLIC}/ads/{public}-a-room-in-vilnius",
    }
    assert f'rel="self" type="application/atom+xml" href="{PUBLIC}/ads/feed.atom"' in feed


@pytest.mark.parametrize(
    "poison",
    [
        {"X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        {"X-Forwarded-Server": "evil.example", "X-Host": "evil.example", "X-Original-Host": "evil.example"},
        {"Forwarded": "host=evil.example;proto=http"},
    ],
)
def test_a_poisoned_request_through_the_proxy_changes_nothing_a_later_reader_gets(app, client, ad, poison):
    for url in (*FEEDS, "/", "/ads"):
        poisoned = client.get(url, base_url=PUBLIC, headers=poison)
        assert "evil.example" not in poisoned.get_data(as_text=True)  # first made, and cached, under poison
        assert "evil.example" not in read(client, url)
    assert all(link.startswith(PUBLIC + "/") for link in links(read(client, "/ads/feed.atom")))


@pytest.mark.parametrize("host", ["evil.example", "prystan.example.evil.example", "evil.example:443"])
def test_a_request_naming_an_unknown_host_is_refused(app, client, ad, host):
    response = client.get("/ads/feed.atom", base_url=f"https://{host}")
    assert response.status_code == 400
    assert "evil" not in response.get_data(as_text=True)
    assert "evil.example" not in read(client, "/ads/feed.atom")


def test_the_onion_address_gets_its_own_links_and_the_cache_does_not_mix_them(app, client, ad):
    onion = read(client, "/ads/feed.atom", base=ONION)
    assert links(onion) and all(link.startswith(ONION + "/") for link in links(onion))
    public = read(client, "/ads/feed.atom")
    assert links(public) and all(link.startswith(PUBLIC + "/") for link in links(public))
    assert all(link.startswith(ONION + "/") for link in links(read(client, "/ads/feed.atom", base=ONION)))


def test_a_local_name_on_the_machine_gets_the_public_links(app, client, ad):
    assert all(
        link.startswith(PUBLIC + "/") for link in links(read(client, "/ads/feed.atom", base="http://127.0.0.1:8000"))
    )


@pytest.mark.parametrize("app_config", [{}])
def test_without_a_public_address_the_site_answers_on_local_names_only(app, client):
    for base in ("http://127.0.0.1:5000", "http://localhost"):
        assert client.get("/ads/feed.atom", base_url=base).status_code == 200, base
        assert f'href="{base}/ads"' in client.get("/ads/feed.atom", base_url=base).get_data(as_text=True)
    assert client.get("/", base_url="http://prystan.example").status_code == 400


@pytest.mark.parametrize(
    "app_config", [{"PUBLIC_URL": PUBLIC, "ONION_URL": ONION, "PROXY_HOPS": 1, "PROXY_TRUST_HOST": True}]
)
def test_forwarded_host_headers_are_trusted_only_when_configured(app, client):
    onion_host = ONION.split("//")[1]
    feed = read(client, "/ads/feed.atom", base="http://127.0.0.1", **{"X-Forwarded-Host": onion_host})
    assert f'href="{ONION}/ads"' in feed  # the proxy says which of our addresses it was: that is used
    refused = client.get("/ads/feed.atom", base_url="http://127.0.0.1", headers={"X-Forwarded-Host": "evil.example"})
    assert refused.status_code == 400


@pytest.mark.parametrize("url", ["prystan.example", "ftp://prystan.example", "https://prystan.example/site"])
def test_an_address_the_site_cannot_serve_is_refused_at_start(tmp_path, url):
    with pytest.raises(RuntimeError, match="PRYSTAN_PUBLIC_URL"):
        make_app(tmp_path, PUBLIC_URL=url, TESTING=False, SECRET_KEY="x" * 40)
