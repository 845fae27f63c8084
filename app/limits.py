"""Every rate limit of the site, declared here and applied by the routes as decorators: what is counted, per whom,
and when a request is spared. The amounts are settings (app/config.py); the limiter's key names a client by a
keyed hash under a daily random key (app/security.py), never by an address.

Infrastructure: the routes import this module, and it imports no blueprint (tests/test_layers.py).
"""

import functools

from flask import current_app, g, request, session
from flask_babel import gettext as _
from flask_login import current_user

from app import pow, proof
from app.addresses import on_onion
from app.extensions import limiter
from app.security import client_network, limiter_key, rate_key


def setting(name: str):
    """A limit read from the settings when a request comes (a test or a site may change it)."""
    return lambda: current_app.config[name]


def refused(response) -> bool:
    return response.status_code == 422


def taken() -> None:
    """This request took what was sent (a form, an answer, an ad's new text): it counts toward the limits on what is
    taken (accepted)."""
    g.taken = True


def accepted(_response) -> bool:
    """Only what was taken counts against the limits on what is taken: a refused form (422) is corrected and sent
    again, and must not use up the limit of the person correcting it; nor must a form drawn again after a file was
    removed from it. (A repeated send, stored once, counts: its files were scrubbed.)"""
    return bool(g.get("taken"))


# --- staff: sign-in, the password asked again, what staff write ------------------------------------------------


def typed_account() -> str:
    return (request.form.get("username") or "").strip().lower()


def network() -> str:
    """The client's network, for the sign-in limits; on the onion none (every client there is 127.0.0.1)."""
    return "" if on_onion() else client_network(request.remote_addr or "")


def account_address_key() -> str:
    """The hard limit counts one account from one address: a stranger's failures never block a colleague."""
    return rate_key("login-account-address", f"{typed_account()}\0{network()}")


def key_step_key() -> str:
    return rate_key("login-key-step", f"{(session.get('key_step') or {}).get('user')}\0{network()}")


def key_step_failed(_response) -> bool:
    """Every answer counts against the address's sign-in limit but one that signs in."""
    return not g.get("key_signed_in")


def login_limits(view):
    """Failed sign-ins: per account at an address, and per address."""
    per_address = limiter.limit(setting("LOGIN_ADDRESS_RATELIMIT"), methods=["POST"], deduct_when=refused)
    per_account = limiter.limit(
        setting("LOGIN_RATELIMIT"), methods=["POST"], key_func=account_address_key, deduct_when=refused
    )
    return per_account(per_address(view))


key_step_limit = limiter.limit(
    setting("LOGIN_RATELIMIT"), methods=["POST"], key_func=key_step_key, deduct_when=key_step_failed
)


def password_user_key() -> str:
    return rate_key("password-change", str(current_user.get_id()))


# Wrong current passwords, per account, counted once across every page that asks for it (password, app, keys).
password_checks = limiter.shared_limit(
    setting("PASSWORD_RATELIMIT"),
    scope="password-checks",
    methods=["POST"],
    key_func=password_user_key,
    deduct_when=refused,
)


def staff_key() -> str:
    return f"staff:{current_user.id}"


# Messages to submitters and internal notes: one budget per staff member for both.
staff_writes = limiter.shared_limit(setting("MESSAGE_RATELIMIT"), scope="staff-writes", key_func=staff_key)


# --- readers ----------------------------------------------------------------------------------------------------


def report_key() -> str:
    # One report per reader per ad per day, without storing who the reader is.
    return f"{limiter_key()}:{request.view_args.get('ad_id')}"


def report_limits(view):
    """Reports per address, and one per reader per ad per day; on the onion, a report without the puzzle shares the
    forms' budget of one such send per form session (without_puzzle)."""
    view = limiter.limit("1 per day", key_func=report_key, methods=["POST"], deduct_when=accepted)(view)
    view = without_puzzle(exempt_when=lambda: not proof.held(), deduct_when=accepted)(view)
    return limiter.limit(setting("REPORT_RATELIMIT"), methods=["POST"])(view)


language_limit = limiter.limit(setting("LANGUAGE_RATELIMIT"))


# --- the public forms ---------------------------------------------------------------------------------------------


def pow_exempt() -> bool:
    """No stricter limit when proof of work is off or was done."""
    return not current_app.config["POW_ENABLED"] or proof.solved()


def without_puzzle_amount() -> str:
    """Sends without the puzzle: per address on the public address; on the onion, per form session, where a new
    session costs a bot nothing and the tab's cap is what holds (app/proof.py)."""
    config = current_app.config
    return config["NOJS_ONION_RATELIMIT"] if on_onion() else config["NOJS_SUBMIT_RATELIMIT"]


def without_puzzle_notice() -> str:
    if on_onion():
        return _(
            "From this browser, one form without JavaScript can be sent every 10 minutes. Wait a few minutes and "
            "send it again, or allow JavaScript for this site (in Tor Browser, the security level “Safer”). "
            "Nothing you typed is lost."
        )
    return _("Too many attempts from your connection. Please wait a while and send the form again.")


def scrubbing() -> None:
    """This request's files went to the sandbox (app/uploads/formfiles.py take(scrubbing=))."""
    g.scrubbing = True


def held_with_files() -> bool:
    """A form sent on the onion without the puzzle, carrying files."""
    return proof.held() and any(f and f.filename for f in request.files.getlist("attachments"))


def the_onion() -> str:
    return "onion-without-puzzle"  # one budget for every visitor of the onion


def scrubs_notice() -> str:
    return _(
        "Too many forms with files were sent without JavaScript in the last hour, so this one was not taken. Try "
        "again later, send it without its files, or allow JavaScript for this site (in Tor Browser, the security "
        "level “Safer”). Nothing you typed is lost, but choose your files again."
    )


# Files sent on the onion without the puzzle reach the sandbox at most this often, site-wide, whatever became of
# the form (taken, refused for a file, a duplicate): a bot making new form sessions would otherwise have it scrub
# without end what it never gets stored, where the tab's cap (app/submissions/unproved.py) does not see it.
onion_scrubs_limit = limiter.shared_limit(
    setting("NOJS_ONION_SCRUB_RATELIMIT"),
    scope="onion-scrubs-without-pow",
    key_func=the_onion,
    methods=["POST"],
    exempt_when=lambda: not held_with_files(),
    deduct_when=lambda _response: bool(g.get("scrubbing")),
    error_message=scrubs_notice,
)


def without_puzzle(**when):
    """The limit on sends without the puzzle, one budget for the forms and the reports."""
    return limiter.shared_limit(
        without_puzzle_amount,
        scope="forms-without-pow",
        methods=["POST"],
        error_message=without_puzzle_notice,
        **when,
    )


def notice(error) -> str | None:
    """What a limit that says more than "too many" says to the person it stopped."""
    return error.description if getattr(error.limit, "error_message", None) else None


def answer_key() -> str:
    # Each answer counts once: a bot cannot solve one challenge and reuse it.
    return "pow:" + pow.signature(request.form.get("altcha", ""))


def submission_limits(view):
    """The limits every public form has: per address (sent, and refused apart), stricter without proof of work,
    one use per answer. Each is shared by the three forms: the limits are on forms per client, whichever form (a
    limit of each route's own would give three times as many)."""
    shared = functools.partial(limiter.shared_limit, methods=["POST"])
    view = shared(setting("SUBMIT_RATELIMIT"), scope="forms-taken", deduct_when=accepted)(view)
    view = shared(setting("REFUSED_SUBMIT_RATELIMIT"), scope="forms-refused", deduct_when=refused)(view)
    view = without_puzzle(exempt_when=pow_exempt, deduct_when=accepted)(view)
    view = onion_scrubs_limit(view)
    once = shared("1 per day", scope="pow-answer", key_func=answer_key, exempt_when=lambda: not proof.solved())
    return once(view)


pow_challenge_limit = limiter.limit("60 per minute")


def created(response) -> bool:
    return response.status_code == 201


def ahead_answer_key() -> str:
    return "pow-ahead:" + pow.signature(request.headers.get(proof.AHEAD_HEADER, ""))


def files_per_form() -> str:
    return f"{current_app.config['UPLOAD_MAX_FILES']} per day"


def upload_creation_limit(view):
    """New resumable uploads (tus POST /uploads), counted when one is made: per client; and on the onion, where each
    needs the form's answer (app/proof.py), as many per answer as one form may carry files."""
    view = limiter.limit(
        files_per_form, key_func=ahead_answer_key, deduct_when=created, exempt_when=lambda: not proof.ahead_needed()
    )(view)
    return limiter.limit(setting("RESUMABLE_RATELIMIT"), deduct_when=created)(view)


# --- a receipt's holder ------------------------------------------------------------------------------------------


def miss_receipt() -> None:
    """The code typed opens nothing: this request counts against the receipt limit."""
    g.receipt_missed = True


def receipt_missed(_response) -> bool:
    """Count only wrong receipt codes against the status limit."""
    return g.get("receipt_missed", False)


# Shared by every action that opens an item by its receipt code (/status and its five actions): one budget of
# wrong codes per client, whichever action was asked (a limit of each route's own would give six). Checked before
# the view, for every code: a right one is not spared, since telling a right code from a wrong one costs a
# derivation (app/crypto/receipts.py), and once the limit is spent no request may make the machine pay for one.
receipt_limits = limiter.shared_limit(
    setting("STATUS_RATELIMIT"),
    scope="receipt",
    methods=["POST"],
    deduct_when=receipt_missed,
)
# What a receipt holder sends, an answer or an ad's new text: one budget for both, per client.
owner_sends = limiter.shared_limit(
    setting("REPLY_RATELIMIT"), scope="owner-sends", methods=["POST"], deduct_when=accepted
)


def owner_writes(view):
    """What a receipt holder sends (an answer, an ad's new text): the receipt's limits, and a limit on what is
    taken, per address."""
    return owner_sends(receipt_limits(view))
