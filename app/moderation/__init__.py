"""Moderation: the staff queue (routes.py), an item and its decisions (items.py), cases and threads (casework.py),
files (attachments.py). Status changes happen in the domain (app/submissions/decisions.py)."""

from flask import Blueprint

from app.security import no_store
from app.sessions import guard

bp = Blueprint("moderation", __name__, url_prefix="/moderation")
bp.before_request(guard("moderate"))
bp.after_request(no_store)

from app.moderation import attachments, bulkwork, casework, handles, items, routes, unprovedwork  # noqa: E402,F401
