"""The receipt's page, /status: what a receipt code opens (its status, the staff's messages, what its holder may
do), the one answer for a code that opens nothing, and withdrawal."""

from flask import g, render_template
from flask_babel import gettext as _

from app import limits
from app.crypto import receipts
from app.submissions import clocks, owner, sealed, threads
from app.submissions.create import find
from app.submissions.decisions import EDITABLE
from app.submit import bp
from app.submit.forms import AdEditForm, AdOwnerForm, HideForm, ReplyForm, StatusForm, WithdrawForm
from app.submit.tus import form_key
from app.uploads.stores import app_storage


@bp.route("/status", methods=["GET", "POST"])
@limits.receipt_limits
def status():
    """Show a submission's status to whoever holds its receipt code."""
    form = StatusForm()
    submission = None
    if form.validate_on_submit():
        submission = find(form.code.data, derive=derive_once)
        if submission is None:
            limits.miss_receipt()
            form.code.errors.append(not_found_message())
    return status_page(form, submission)


def status_page(form, submission, notice=None, **forms):
    code = {"code": form.code.data, "formdata": None}
    forms.setdefault("withdraw_form", WithdrawForm(**code))
    forms.setdefault("owner_form", AdOwnerForm(**code))
    forms.setdefault("reply_form", ReplyForm(**code))
    forms.setdefault("hide_form", HideForm(**code))
    context = {}
    if submission is not None:
        opened = receipt_opened(submission)
        if submission.owner_may_edit and not opened.locked and "edit_form" not in forms:
            forms["edit_form"] = AdEditForm(data=opened.values(EDITABLE), **code)
        context = {
            "opened": opened,
            "can_answer": threads.can_answer(submission),
            "can_hide": bool(threads.visible_to_sender(submission)),
            "can_edit": submission.owner_may_edit and not opened.locked,
            "expires_soon": owner.expires_soon(submission),
            "deadline": clocks.deadline(submission),
        }
        if context["can_answer"]:
            form_key(create=True)  # the answer's files may be sent ahead, resumably (tus.py)
    return render_template("submit/status.html", form=form, submission=submission, notice=notice, **context, **forms)


def opened(code: str | None):
    """What a receipt code opens, and the status form that shows it again (the item is None for a wrong code)."""
    return find(code or "", derive=derive_once), StatusForm(formdata=None, code=code or "")


def receipt_opened(submission) -> sealed.Opened:
    """The item as its receipt opens it (this request derived the receipt's key when it found the item)."""
    return sealed.Opened(sealed.Opener.for_receipt(g.receipt_derived[1].key), submission)


def derive_once(code: str) -> receipts.Derived:
    """A request derives at most one receipt code, once (AT-REST.md): whatever asks for it again gets the same
    result, so that one request never costs the machine two derivations. The routes call it only after the limit
    of wrong codes was checked (limits.receipt_limits runs first)."""
    kept = g.get("receipt_derived")
    if kept is None:
        kept = g.receipt_derived = (code, receipts.derive(code))
    elif kept[0] != code:
        raise ValueError("one receipt code per request")
    return kept[1]


def not_found(code_text: str, **forms):
    """One answer for every code that matches nothing, whatever the item would have held (messages too)."""
    limits.miss_receipt()
    form = StatusForm(formdata=None, code=code_text or "")
    form.code.errors = [not_found_message()]
    return render_template("submit/status.html", form=form, **forms), 422


@bp.post("/status/withdraw")
@limits.receipt_limits
def withdraw():
    """Delete a submission for good, files included, after the submitter confirms."""
    withdraw_form = WithdrawForm()
    submission, form = opened(withdraw_form.code.data)
    if submission is None:
        return not_found(withdraw_form.code.data, withdraw_form=withdraw_form)
    if not withdraw_form.validate():
        return status_page(form, submission, withdraw_form=withdraw_form), 422
    owner.withdraw(submission, app_storage())
    return render_template("submit/status.html", form=StatusForm(formdata=None), withdrawn=True)


def not_found_message() -> str:
    # One answer for every code that matches nothing: it tells nothing about other people's codes.
    return _("No submission matches this code. Check the digits and try again.")
