from flask import current_app, redirect, render_template, request

from app.public import bp
from app.public.forms import LanguageForm

ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
def home():
    """Show the entry points: the four forms and the status check."""
    return render_template("public/home.html")


@bp.get("/help/telegram")
def help_telegram():
    """Explain how to find or create a Telegram username."""
    return render_template("public/help_telegram.html")


@bp.post("/language")
def language():
    """Remember the chosen language in a cookie and go back to the page."""
    form = LanguageForm()
    target = form.next.data or "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    response = redirect(target, code=303)
    chosen = request.form.get("lang")
    if form.validate() and chosen in current_app.config["LANGUAGES"]:
        response.set_cookie(
            current_app.config["LANGUAGE_COOKIE_NAME"],
            chosen,
            max_age=ONE_YEAR,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return response
