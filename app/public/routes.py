from typing import cast

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from sqlalchemy import select

from app import articles, limits, proof
from app.addresses import base_url, external_url
from app.extensions import db
from app.fragments import wanted
from app.models import PublicAd, Submission, utcnow
from app.pagecache import cached, memo
from app.public import bp
from app.public.forms import AdFilterForm, ReportForm
from app.redirects import local_path
from app.security import no_store
from app.slugs import slugify
from app.submissions import ads, reports
from app.uploads.serve import send_stored
from app.uploads.storage import preview_key, public_key_name

ONE_YEAR = 365 * 24 * 3600
# Readers' pages and the images on them: a browser may keep them but asks again before each use, and no shared
# cache keeps them at all, so a withdrawn or closed ad, its photos with it, is gone from every cache at once.
READERS_CACHE = "private, no-cache"
HOME_ADS = 6
HOME_ARTICLES = 3
FEED_SIZE = 50


@bp.after_request
def readers_cache(response):
    """Readers' pages: READERS_CACHE, unless a page chose otherwise (forms are no-store)."""
    response.headers.setdefault("Cache-Control", READERS_CACHE)
    return response


@bp.get("/")
@cached
def home():
    """The four entry points, the latest ads and articles, and how moderation works."""
    return render_template(
        "public/home.html", latest_ads=ads.latest(HOME_ADS), latest_articles=articles.published(HOME_ARTICLES)
    )


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for this on pages without a <link rel=icon> (fragments opened on their own)."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/help/telegram")
def help_telegram():
    """Explain how to find or create a Telegram username."""
    return render_template("public/help_telegram.html")


@bp.get("/safety")
def safety():
    """How to send safely: Tor Browser (and the onion address), a device not held by the police, what is kept and
    for how long, the receipt code on paper, the quick exit."""
    config = current_app.config
    return render_template(
        "public/safety.html",
        onion=(config.get("ONION_URL") or "").rstrip("/"),
        pending_days=int(config["PENDING_MAX_DAYS"]),
        retention_days=int(config["RETENTION_DAYS"]),
    )


@bp.get("/ads")
@cached
def ad_list():
    """Live ads, newest first, filtered and searched; pages keep the filters."""
    form = AdFilterForm(request.args)
    if form.validate():
        category = form.category.data if form.category.data in Submission.CATEGORIES else None
        filters = ads.Filters(category=category, city=form.city.data or "", q=form.q.data or "")
    else:  # too long: the errors show, and the list is unfiltered
        filters = ads.Filters()
    items, next_cursor = ads.page(filters, after=request.args.get("after"))
    next_args = {k: v for k, v in request.args.items() if k in ("q", "category", "city") and v} | {"after": next_cursor}
    context = {
        "form": form,
        "ads": items,
        "next_cursor": next_cursor,
        "next_args": next_args,
        "filtered": any((filters.category, filters.city, filters.q)),
    }
    if wanted("ad-results"):
        return render_template("public/partials/_ad_list.html", **context)
    return render_template("public/ads.html", cities=memo("cities", ads.cities), **context)


def find_ad(public_id: str) -> Submission:
    """A published ad: 404 if it never was (or is back in the queue), 410 if it expired or was closed."""
    ad = db.session.scalar(select(Submission).where(Submission.public_id == public_id))
    if ad is None or ad.kind != "ad" or ad.status != "approved":
        abort(404)
    if not ad.is_live_ad(utcnow()) or ad.public_copy is None:
        abort(410)
    return ad


@bp.get("/ads/<public_id:ad_id>")
@bp.get("/ads/<public_id:ad_id>-<slug>")
@cached
def ad(ad_id: str, slug: str | None = None):
    """One ad, its public images and a way to contact its author."""
    item = find_ad(ad_id)
    canonical = slugify(cast("PublicAd", item.public_copy).title, fallback="ad")  # find_ad: a live ad has one
    if slug != canonical:
        return redirect(url_for("public.ad", ad_id=ad_id, slug=canonical), code=301)
    return render_template("public/ad.html", ad=item)


@bp.route("/ads/<public_id:ad_id>/report", methods=["GET", "POST"])
@limits.report_limits
def report(ad_id: str):
    """A reader reports an ad; enough reports send it back to the moderators. A page of its own: the form's
    token needs a session, and reading the ad itself must set no cookie."""
    item = find_ad(ad_id)
    form = ReportForm()
    valid = form.validate_on_submit()
    if form.is_submitted() and (refused := proof.refusal()):
        form.form_errors.append(refused)
        valid = False
    if not valid:
        return no_store(
            make_response(
                render_template("public/report.html", ad=item, report_form=form), 422 if form.is_submitted() else 200
            )
        )
    try:
        reports.report(
            item.id,
            form.reason.data,
            form.note.data,
            threshold=current_app.config["REPORT_THRESHOLD"],
            unproved=proof.held(),
        )
    except reports.NotAllowed:
        abort(410)
    limits.taken()
    proof.taken()
    flash(_("Thank you. A moderator will look at this ad."))
    return redirect(url_for("public.ad_list"), code=303)


@bp.errorhandler(RateLimitExceeded)
def rate_limited(error):
    """A reader who already reported this ad is thanked, not scolded; other limits get the usual page."""
    if request.endpoint != "public.report":
        return render_template("errors/error.html", error=error), 429
    item = find_ad(request.view_args["ad_id"])
    return render_template(
        "public/report.html",
        ad=item,
        report_form=ReportForm(),
        notice=limits.notice(error) or _("You have already reported this ad. Thank you: a moderator will look at it."),
    ), 429


@bp.get("/ads/images/<public_id:image_id>")
def ad_image(image_id: str):
    """An image a moderator made public, while its ad is live."""
    return send_public(image_id, thumb=False)


@bp.get("/ads/images/<public_id:image_id>/thumb")
def ad_thumb(image_id: str):
    return send_public(image_id, thumb=True)


def send_public(image_id: str, *, thumb: bool):
    image = ads.public_image(image_id)
    if image is None:
        abort(404)
    mimetype = "image/jpeg" if thumb else image.content_type
    if image.file_key is not None:  # stored encrypted: readers get the clear copy made at approval (public_copy)
        response = send_stored(public_key_name(image.storage_key, thumb=thumb), mimetype)
    else:
        response = send_stored(preview_key(image.storage_key) if thumb else image.storage_key, mimetype)
    response.headers["Cache-Control"] = READERS_CACHE  # the ad page's rule (readers_cache)
    return response


@bp.get("/ads/feed.atom")
@cached
def ads_feed():
    items = ads.latest(FEED_SIZE)
    entries = [
        {
            "id": external_url("public.ad", ad_id=a.public_id),
            "title": a.public_copy.title,
            "url": external_url("public.ad", ad_id=a.public_id, slug=slugify(a.public_copy.title, fallback="ad")),
            "published": a.published_at,
            "updated": a.published_at,
            "summary": a.public_copy.body,
            "lang": a.locale,
        }
        for a in items
    ]
    return feed(_("Ads"), external_url("public.ad_list"), entries)


@bp.get("/articles")
@cached
def article_list():
    return render_template("public/articles.html", articles=articles.published())


@bp.get("/articles/<slug>")
@cached
def article(slug: str):
    item = articles.by_slug(slug)
    if item is None:
        abort(404)
    return render_template("public/article.html", article=item)


@bp.get("/articles/feed.atom")
@cached
def articles_feed():
    entries = [
        {
            "id": external_url("public.article", slug=a.slug),
            "title": a.title,
            "url": external_url("public.article", slug=a.slug),
            "published": a.published_at,
            "updated": a.updated_at,
            "summary": a.summary,
            "html": a.body_html,
            "lang": a.locale,
        }
        for a in articles.published(FEED_SIZE)
    ]
    return feed(_("Articles"), external_url("public.article_list"), entries)


def feed(title: str, home_url: str, entries: list[dict]):
    updated = max((e["updated"] for e in entries), default=utcnow())
    body = render_template(
        "public/feed.xml",
        title=title,
        home_url=home_url,
        self_url=base_url() + request.path,
        entries=entries,
        updated=updated,
    )
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}


@bp.get("/language/<lang>")
@limits.language_limit
def language(lang: str):
    """Remember the chosen language in a cookie and go back to the page.

    A link, not a form: readers' pages then need no CSRF token, and so no session. Being made to switch
    language by another site is harmless."""
    response = redirect(local_path(request.args.get("next"), "/"), code=303)
    if lang in current_app.config["LANGUAGES"]:
        response.set_cookie(
            current_app.config["LANGUAGE_COOKIE_NAME"],
            lang,
            max_age=ONE_YEAR,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return no_store(response)
