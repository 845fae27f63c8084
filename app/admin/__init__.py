"""Administration: staff accounts and the audit log (admins), articles (editors and admins)."""

from flask import Blueprint, request

from app.sessions import guard
from app.security import no_store

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.after_request(no_store)

_may_write = guard("write")
_may_administer = guard("administer")


@bp.before_request
def check_role():
    """Articles are for editors (and admins); everything else here is for admins."""
    articles = (request.endpoint or "").startswith("admin.article")
    return (_may_write if articles else _may_administer)()


from app.admin import articles, routes  # noqa: E402,F401
