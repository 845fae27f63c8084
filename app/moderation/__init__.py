"""Moderation: the staff queue (routes.py) and the one place where a status changes (service.py)."""

from flask import Blueprint

from app.security import no_store
from app.sessions import guard

bp = Blueprint("moderation", __name__, url_prefix="/moderation")
bp.before_request(guard("moderate"))
bp.after_request(no_store)

from app.moderation import routes  # noqa: E402,F401
