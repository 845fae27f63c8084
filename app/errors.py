"""The error pages: what a request that failed is answered, whatever failed."""

from flask import Flask, current_app, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.fragments import wanted
from app.uploads.storage import StorageError


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(SQLAlchemyError, unavailable)
    app.register_error_handler(StorageError, unavailable)
    app.register_error_handler(Exception, server_error)


def links_possible() -> bool:
    """Whether addresses can be built for this request: not for a Host header outside TRUSTED_HOSTS (only a client
    of its own sends one), for which Flask makes no URL adapter."""
    try:
        return current_app.create_url_adapter(request) is not None
    except HTTPException:
        return False


def error_page(error: HTTPException | None, code: int):
    if not links_possible():
        words = f"{gettext('The request could not be handled')}. {gettext('Please go back and try again.')}"
        return words, code, {"Content-Type": "text/plain; charset=utf-8"}
    # An htmx fragment request gets the message alone, to fit where the fragment would have gone.
    name = "errors/partials/_error.html" if wanted() else "errors/error.html"
    return render_template(name, error=error, code=code), code


def http_error(error: HTTPException):
    return error_page(error, error.code)


def csrf_error(error: CSRFError):
    return render_template("errors/csrf.html", error=error), 400


def unavailable(error: Exception):
    """The database or the file store failed: nothing was half-saved (each write is one transaction, and files
    written for a failed submission are removed again). Say so, and try later."""
    db.session.rollback()
    current_app.logger.error("service unavailable: %s on %s", type(error).__name__, request.endpoint)
    try:
        return error_page(None, 503)
    except Exception:  # the page itself needs the database (a signed-in user): answer in plain text
        return (
            "Temporarily unavailable. Nothing was saved half-way. Please try again later.",
            503,
            {"Content-Type": "text/plain; charset=utf-8"},
        )


def server_error(error: Exception):
    current_app.logger.exception("unhandled error on %s", request.endpoint)
    return error_page(None, 500)
