"""Administration: staff accounts and the audit log (admins only)."""

from flask import Blueprint

from app.auth.session import guard
from app.security import no_store

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(guard("administer"))
bp.after_request(no_store)

from app.admin import routes  # noqa: E402,F401
