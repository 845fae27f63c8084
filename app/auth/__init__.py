from flask import Blueprint

from app.security import no_store

bp = Blueprint("auth", __name__, url_prefix="/auth")
bp.after_request(no_store)

from app.auth import routes  # noqa: E402,F401
