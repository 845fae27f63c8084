"""Administration: staff accounts and the audit log (admins), articles (editors and admins)."""

from flask import Blueprint, current_app, request
from flask_login import current_user

from app import sessions
from app.crypto import epochs
from app.security import no_store
from app.sessions import guard

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.after_request(no_store)


def needs(permission: str):
    """Open one view of this blueprint to another permission than "administer" (the articles: "write")."""

    def mark(view):
        view.permission = permission
        return view

    return mark


@bp.before_request
def check_role():
    """Each view says who may use it (needs); a view that says nothing is for admins."""
    view = current_app.view_functions.get(request.endpoint)
    refused = guard(getattr(view, "permission", "administer"))()
    if refused is None and current_user.can("administer"):
        seal_to_recovery()
    return refused


def seal_to_recovery() -> None:
    """A recovery key configured after some periods began: the next unlocked admin's request seals to it those
    this admin holds (AT-REST.md). Without a recovery key this reads nothing from the database; with one, two
    small reads find nothing to do."""
    if epochs.missing_recovery() and (key := sessions.staff_key()) is not None:
        epochs.seal_to_recovery(current_user, key)


from app.admin import routes, writing  # noqa: E402,F401
