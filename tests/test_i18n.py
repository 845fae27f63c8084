"""Languages: the switcher, Accept-Language, and complete ru/be catalogs for every string in the code."""

import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app import ROOT
from tests.helpers import login, make_user

LOCALES = ("ru", "be")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def catalog(locale):
    with open(os.path.join(ROOT, "app", "translations", locale, "LC_MESSAGES", "messages.po"), "rb") as f:
        return read_po(f, locale=locale)


def source_messages() -> set[str]:
    """Every translatable string in the code and templates, extracted afresh."""
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def translate(locale, message_id):
    return catalog(locale)[message_id].string


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_translates_every_string_without_fuzzy_entries(locale):
    messages = catalog(locale)
    missing = [m for m in sorted(source_messages()) if m not in messages or not messages[m].string]
    fuzzy = [m.id for m in messages if m.id and m.fuzzy]
    assert missing == [], f"{len(missing)} untranslated in {locale}: {missing[:5]}"
    assert fuzzy == []


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_their_placeholders(locale):
    for message in catalog(locale):
        if message.id and message.string and isinstance(message.id, str):
            assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), message.id


def test_switcher_sets_a_cookie_and_the_page_follows_it(client):
    response = client.get("/language/ru?next=/submit/ad")
    assert response.status_code == 303 and response.headers["Location"] == "/submit/ad"
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("prystan_lang=ru;")  # the language alone, no session
    html = client.get("/submit/ad").get_data(as_text=True)
    assert '<html lang="ru">' in html
    assert translate("ru", "Add an ad") in html
    assert "Nothing is published before a moderator has reviewed it." not in html


def test_switcher_is_on_every_page_and_offers_all_three_languages(client):
    for url in (
        "/",
        "/submit/information",
        "/submit/contact",
        "/submit/ad",
        "/status",
        "/help/telegram",
        "/ads",
        "/articles",
        "/nowhere",
    ):
        html = client.get(url).get_data(as_text=True)
        for code in ("en", "ru", "be"):
            assert f'href="/language/{code}?next=' in html


TWO = {"en": "English", "be": "Беларуская"}


@pytest.mark.parametrize("app_config", [{"LANGUAGES": TWO}])
def test_one_table_names_the_languages_the_switcher_the_browser_and_the_article_form_know(app, client):
    html = client.get("/").get_data(as_text=True)
    offered = re.findall(r'href="/language/(\w+)\?next=[^"]*"[^>]*>([^<]+)</a>', html)
    assert offered == list(TWO.items())
    assert "prystan_lang" not in client.get("/language/ru?next=/").headers.get("Set-Cookie", "")
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    make_user(app, "ales", "editor")
    login(client, "ales")
    form = client.get("/admin/articles/new").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="locale".*?</select>', form, re.S).group(0)
    assert re.findall(r'<option(?: selected)? value="(\w+)">([^<]+)</option>', select) == list(TWO.items())
    article = {"title": "Letters", "slug": "", "summary": "", "body": "Text.", "locale": "ru"}
    assert client.post("/admin/articles/new", data=article).status_code == 422


def test_the_languages_are_named_in_one_place():
    """The table in app/config.py; a second list would drift from it (three did)."""
    root = Path(ROOT)
    sources = [p for p in (root / "app").rglob("*.py") if "translations" not in p.parts]
    sources += list((root / "templates").rglob("*.html"))
    naming = [str(p.relative_to(root)) for p in sources if "Беларуская" in p.read_text(encoding="utf-8")]
    assert naming == ["app/config.py"]


def test_the_switcher_comes_back_to_the_same_page_with_its_query(client):
    html = client.get("/ads?category=housing&q=room").get_data(as_text=True)
    link = re.search(r'href="(/language/be\?next=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert client.get(link).headers["Location"] == "/ads?category=housing&q=room"


def test_switcher_refuses_to_redirect_elsewhere(client):
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
    ):
        assert client.get("/language/be", query_string={"next": target}).headers["Location"] == "/"


def test_unknown_language_is_ignored(client):
    response = client.get("/language/xx?next=/")
    assert "prystan_lang" not in response.headers.get("Set-Cookie", "")


def test_browser_language_is_used_without_a_cookie(client):
    html = client.get("/", headers={"Accept-Language": "be-BY,be;q=0.9,ru;q=0.5"}).get_data(as_text=True)
    assert '<html lang="be">' in html
    assert translate("be", "Add information") in html
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)


def test_errors_are_translated(client):
    client.get("/language/be?next=/")
    html = client.post("/submit/information", data={"telegram": "+375291234567", "body": ""}).get_data(as_text=True)
    assert translate("be", "Please write what you want to tell us.") in html
    phone = next(m for m in source_messages() if m.startswith("This looks like a phone number."))
    assert translate("be", phone) in html


@pytest.mark.parametrize(("locale", "month"), [("en", "November"), ("ru", "ноября"), ("be", "лістапада")])
def test_dates_are_written_the_way_each_language_writes_them(app, client, locale, month):
    from datetime import datetime

    from app.extensions import db
    from app.models import Article

    with app.app_context():
        db.session.add(
            Article(
                slug="dated",
                title="Dated",
                locale="en",
                status="published",
                body_html="<p>x</p>",
                published_at=datetime(2026, 11, 20, 12, 0),
            )
        )
        db.session.commit()
    client.get(f"/language/{locale}?next=/")
    html = client.get("/articles/dated").get_data(as_text=True)
    assert f'<html lang="{locale}">' in html
    assert f"20 {month} 2026" in html or f"{month} 20, 2026" in html
