"""A moderator registers a security key in Chromium and signs in with it, through the DevTools WebAuthn domain's
virtual authenticator (a CTAP2 USB key that answers at once); a cloned key (its counter set back) is refused.
The site is reached as http://localhost: a relying-party id is a name, never an IP address."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot
from tests.helpers import PASSWORD, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.once]


@pytest.fixture
def key_page(browser, live_server):
    address = live_server.url.replace("127.0.0.1", "localhost")
    context = browser.new_context(base_url=address, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    expected = re.compile(r"status of 422\b")  # (a refused key: the page says so)
    page.on("console", lambda m: m.type == "error" and not expected.search(m.text) and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: r.url.startswith(address) or problems.append(f"foreign request: {r.url}"))
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    authenticator = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    page.devtools, page.authenticator, page.problems = devtools, authenticator, problems
    yield page
    context.close()


def password_step(page, username="olga"):
    page.goto("/auth/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_register_a_key_and_sign_in_with_it_and_a_clone_is_refused(key_page, live_server):
    page = key_page
    make_user(live_server.app, "olga")
    password_step(page)
    expect(page).to_have_url(re.compile(r"/moderation$"))

    page.goto("/auth/keys")
    page.get_by_label("Name of the key").fill("blue key")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Add the key").click()
    expect(page.get_by_text("The key “blue key” is added.")).to_be_visible()
    expect(page.locator(".key-list li")).to_have_count(1)
    screenshot(page, "keys-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "keys-mobile")
    page.set_viewport_size({"width": 1280, "height": 900})
    credentials = page.devtools.send("WebAuthn.getCredentials", {"authenticatorId": page.authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"

    page.get_by_role("button", name="Sign out").click()
    password_step(page)
    expect(page).to_have_url(re.compile(r"/auth/key$"))
    expect(page.get_by_role("heading", name="Use your security key")).to_be_visible()
    screenshot(page, "key-sign-in-desktop")
    page.get_by_role("button", name="Use my key").click()
    expect(page).to_have_url(re.compile(r"/moderation$"))
    used = page.devtools.send("WebAuthn.getCredentials", {"authenticatorId": page.authenticator})["credentials"][0]
    assert used["signCount"] >= 2  # (once to register, once to sign in)

    # A copy of the key, made before it was used: its counter is behind the server's.
    page.get_by_role("button", name="Sign out").click()
    page.devtools.send("WebAuthn.clearCredentials", {"authenticatorId": page.authenticator})
    page.devtools.send(
        "WebAuthn.addCredential",
        {"authenticatorId": page.authenticator, "credential": used | {"signCount": 0}},
    )
    password_step(page)
    page.get_by_role("button", name="Use my key").click()
    expect(page.locator("#error-summary")).to_contain_text("The key was not accepted")
    assert page.url.endswith("/auth/key")
    assert page.problems == []


def test_a_key_only_account_removes_its_last_key_with_the_key_itself(key_page, live_server):
    page = key_page
    make_user(live_server.app, "olga")
    password_step(page)
    page.goto("/auth/keys")
    page.get_by_label("Name of the key").fill("laptop")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Add the key").click()
    expect(page.locator(".key-list li")).to_have_count(1)

    remove = page.locator(".remove-key")
    remove.get_by_label("Your password").fill(PASSWORD)
    remove.get_by_role("button", name="Remove “laptop”").click()
    expect(page.get_by_text("The key “laptop” is removed.")).to_be_visible()
    expect(page.locator(".key-list li")).to_have_count(0)

    # With the key gone from the browser too, the browser has nothing to answer with: a clear message.
    page.get_by_label("Name of the key").fill("spare")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Add the key").click()
    expect(page.locator(".key-list li")).to_have_count(1)
    page.devtools.send("WebAuthn.clearCredentials", {"authenticatorId": page.authenticator})
    remove = page.locator(".remove-key")
    remove.get_by_label("Your password").fill(PASSWORD)
    remove.get_by_role("button", name="Remove “spare”").click()
    expect(remove.locator(".webauthn-status")).to_contain_text("did not get an answer from a key")
    expect(page.locator(".key-list li")).to_have_count(1)
    screenshot(page, "keys-last-factor-desktop")
