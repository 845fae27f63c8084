"""Administration: staff accounts and the audit log (admins), articles (editors and admins)."""

from flask import Blueprint, current_app, request

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
    return guard(getattr(view, "permission", "administer"))()


from app.admin import routes, writing  # noqa: E402,F401
