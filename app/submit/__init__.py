from flask import Blueprint

from app.security import no_store

bp = Blueprint("submit", __name__)
bp.after_request(no_store)

from app.submit import owner_actions, routes, status, tus  # noqa: E402,F401
