"""Issue 29, item 2: /safety, the page on sending safely, linked from every form, the receipt page and /status, in
en, ru and be; the onion address on it and on every form when there is one."""

from html import unescape

import pytest

from tests.helpers import make_submission, receipt_from
from tests.test_i18n import translate

ONION = "http://prystanexample2d6yq3v4lr5kq7m2xwg7dd5xo2c6amwtd5kpkqhpiad.onion"
LINES = [  # whole messages of the page (its catalog entries)
    "Use a phone or computer the police have not held",
    "Tor Browser hides from your internet provider that you visit this site, and hides your address from us.",
    "In Tor Browser, open Settings, then Privacy & Security, then Security Level, and choose Safest. Every page "
    "works there, and every form can be sent with its files. If the site is flooded, a form sent at Safest may be "
    "refused for a while: then wait, or choose Safer.",
    "Without Tor Browser, use a private (incognito) window. Otherwise your browser's history lists this site.",
    "We never keep your internet address. Your photos and documents lose their hidden data (the place, the camera, "
    "the author) before anyone sees them.",
    "Anyone who has the code can do the same. Write it on paper and keep the paper apart from your phone. Do not save "
    "it in the phone, photograph it or send it to anyone.",
    "Once your submission is deleted, by you or because its time was up, its code answers as if it had never existed.",
    "The Quick exit button at the top of every page takes you to an ordinary website at once.",
]


def page(client, url, lang="en", **kwargs) -> str:
    client.set_cookie("prystan_lang", lang)
    response = client.get(url, **kwargs)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["en", "ru", "be"])
def test_the_page_says_each_thing_in_each_language(client, lang):
    html = unescape(page(client, "/safety", lang))
    for line in LINES:
        assert (line if lang == "en" else translate(lang, line)) in html, (lang, line)
    title = "Sending safely" if lang == "en" else translate(lang, "Sending safely")
    assert f"<title>{title} ·" in html
    if lang == "en":
        assert "If nobody has reviewed what you sent within 30 days, it is deleted." in html


def test_the_settings_give_its_days(app, client):
    app.config.update(PENDING_MAX_DAYS=14, RETENTION_DAYS=7)
    html = unescape(page(client, "/safety"))
    assert "within 14 days, it is deleted." in html and "deleted 7 days after the decision." in html


@pytest.mark.parametrize("app_config", [{"ONION_URL": ONION}])
def test_the_onion_address_is_on_the_page_and_on_every_form(app, client):
    assert ONION in page(client, "/safety")
    for form in ("/submit/information", "/submit/contact", "/submit/ad"):
        assert ONION in page(client, form), form


def test_without_an_onion_no_address_is_shown(client):
    assert ".onion" not in page(client, "/safety")
    assert ".onion" not in page(client, "/submit/information")


def test_every_form_the_receipt_and_status_link_to_it(app, client):
    for form in ("/submit/information", "/submit/contact", "/submit/ad", "/status"):
        assert 'href="/safety"' in page(client, form), form
    receipt = client.post("/submit/information", data={"telegram": "anna_k1", "body": "What I saw."})
    assert receipt_from(receipt.get_data(as_text=True)) and 'href="/safety"' in receipt.get_data(as_text=True)
    _, code = make_submission(app)
    assert 'href="/safety"' in client.post("/status", data={"code": code}).get_data(as_text=True)


SUBMITTER_PAGES = ["/", "/submit/information", "/submit/contact", "/submit/ad", "/status", "/safety"]


@pytest.mark.parametrize("lang", ["en", "ru", "be"])
def test_a_submitters_pages_titles_name_no_cause(client, lang):
    """Issue 29, item 3: a searched phone's history shows titles: the site's neutral name and the page's plain one."""
    site = "Prystan" if lang == "en" else translate(lang, "Prystan")
    for url in SUBMITTER_PAGES:
        title = unescape(page(client, url, lang).split("<title>")[1].split("</title>")[0])
        assert title.endswith(f" · {site}"), (url, title)
        for word in ("prisoner", "political", "заключ", "палітв", "политз", "палітычн", "политическ", "repress"):
            assert word not in title.lower(), (url, title)
    home = unescape(page(client, "/", lang).split("<title>")[1].split("</title>")[0])
    assert home == ("Home" if lang == "en" else translate(lang, "Home")) + f" · {site}"


@pytest.mark.parametrize("app_config", [{"SITE_NAME": "Harbour"}])
def test_the_sites_name_is_a_setting(client):
    html = page(client, "/safety")
    assert "<title>Sending safely · Harbour</title>" in html and 'class="brand-name">Harbour<' in html
