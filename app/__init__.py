"""Application factory."""

import logging
import os
import stat
import tempfile

import flask
from flask import Flask, abort, has_request_context, request
from flask_babel import get_locale, get_translations
from flask_babel import gettext as _
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter, IntegerConverter

from app import assets, errors, labels, logs, pagecache
from app import config as settings
from app.addresses import on_onion
from app.extensions import babel, csrf, db, htmx, limiter, login, migrate
from app.models import ID_MAX, PUBLIC_ID_PATTERN, Submission, utcnow
from app.ratekeys import DailyKeys
from app.security import HideAddress, set_headers
from app.uploads import sandbox
from app.uploads.resumable import Store
from app.uploads.storage import own_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    # Swap form errors (422) and conflicts (409) like successes. Other errors are swapped too: an htmx
    # request gets a short message fragment (app/errors.py), a boosted one the whole error page.
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "409", "swap": True, "error": False},
        {"code": "422", "swap": True, "error": False},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def create_app(config: dict | None = None) -> Flask:
    logs.configure()  # first: the security events and the app's lines go to stderr (the journal), whatever runs it
    app = Flask(
        __name__,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
        instance_path=os.path.join(ROOT, "instance"),
    )
    app.config.from_object(settings.Defaults)
    app.config.from_prefixed_env("PRYSTAN")
    app.config.update(config or {})
    settings.finish(app)
    settings.check(app.config)
    app.request_class = Request
    start_up(app)

    if app.config["PROXY_HOPS"]:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops if app.config["PROXY_TRUST_HOST"] else 0
        )

    init_extensions(app)
    connect_hooks(app)
    app.url_map.converters["id"] = IdConverter  # before any route
    app.url_map.converters["public_id"] = PublicIdConverter
    register_blueprints(app)
    errors.register(app)
    app.before_request(refuse_json_bodies)
    app.after_request(set_headers)
    logging.getLogger("werkzeug").addFilter(HideAddress())

    if app.config.get("BENCH_HELLO"):
        # The benchmarks' baseline: a bare route in the same app and server.
        app.add_url_rule("/bench/hello", "bench_hello", lambda: "hello")

    from app.cli import register as register_cli

    register_cli(app)
    return app


class IdConverter(IntegerConverter):
    """<id:…> in a URL, a row id: a positive number that fits an id column, so a huge one is a 404, not an
    overflow. (Flask's own <int:…> stays as it is: any other number names its bounds, as tests/test_factory.py
    checks.)"""

    def __init__(self, url_map, fixed_digits=0, min=1, max=ID_MAX, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class PublicIdConverter(BaseConverter):
    """<public_id:…>: what readers see of an ad or an image (models.new_public_id), never a row id."""

    regex = PUBLIC_ID_PATTERN


class Request(flask.Request):
    """Uploaded files larger than Werkzeug's in-memory threshold spool to the RAM-backed work folder, never
    to the disk's temporary folder: an original with its GPS position must not rest on a disk, even unlinked."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return tempfile.SpooledTemporaryFile(max_size=500 * 1024, dir=flask.current_app.config["UPLOAD_WORKDIR"])


def start_up(app: Flask) -> None:
    """What a process does once, before it serves: its folders made private, the decoders' sandbox probed, and
    the uploads that expired while the site was down removed now, not at the next hourly `flask uploads gc`."""
    private_folders(app)
    check_sandbox(app)
    Store(app.config["RESUMABLE_DIR"]).collect()


def private_folders(app: Flask) -> None:
    """The instance folder (secret key, database), the work folder and a local store are the app user's alone:
    a decoder child running as another user can read none of them."""
    for folder in (app.instance_path, app.config["UPLOAD_WORKDIR"], app.config["RESUMABLE_DIR"]):
        os.makedirs(folder, mode=0o700, exist_ok=True)
    store = app.config["STORAGE_URL"]
    local_store = store.removeprefix("file://") if "://" not in store or store.startswith("file://") else None
    for folder in (app.instance_path, app.config["UPLOAD_WORKDIR"], app.config["RESUMABLE_DIR"], local_store):
        # Made 0700 when created (LocalStorage makes the store on first use); an older folder is made so too, but
        # for a folder every program shares (sticky, as /dev/shm and /tmp are): closing that would break the others.
        if folder and os.path.isdir(folder):
            found = own_folder(folder)
            if found.st_uid == os.geteuid() and not found.st_mode & stat.S_ISVTX:
                os.chmod(folder, 0o700)


def check_sandbox(app: Flask) -> None:
    """Find out once, at start-up, what the decoders' sandbox can use here, and say what is missing."""
    chosen = sandbox.settings_from(app.config)
    sandbox.slot_dir(chosen)  # (refused now, not at the first upload, if another user made it)
    found = sandbox.isolation(chosen.uid_base, chosen.slots)
    weak = not (found.no_network and found.switches_user and found.landlock)
    app.logger.log(logging.WARNING if weak else logging.INFO, "decoder sandbox: %s", found.describe())


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    app.extensions["ratekeys"] = DailyKeys()  # the limiter's random daily keys, held in memory (or its Redis)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=os.path.join(ROOT, "app", "translations"),
    )
    fast_template_gettext(app)
    login.init_app(app)
    pagecache.init_app(app)
    assets.init_app(app)  # static addresses carry their content's fingerprint
    login.login_view = "auth.login"
    login.login_message = None
    # Our own session version ends stolen sessions; "strong" would tie sessions to the address.
    login.session_protection = None

    from app.slugs import slugify

    app.add_template_filter(lambda text, fallback="item": slugify(text, fallback=fallback), "slug")
    app.add_template_filter(machine_time, "machine_time")
    from app.telegram import profile_url

    app.add_template_filter(profile_url, "telegram_url")

    @app.context_processor
    def globals_for_templates():
        return {
            "labels": labels,
            "Submission": Submission,  # its limits (TITLE_MAX, AD_DAYS…) for the forms' hints
            "now": utcnow,
            "current_locale": str(get_locale()),
            "languages": app.config["LANGUAGES"],
            "htmx_config": HTMX_CONFIG,
            # The site's neutral name (no cause in it: a phone's history shows it), PRYSTAN_SITE_NAME or "Prystan".
            "site_name": app.config.get("SITE_NAME") or _("Prystan"),
            "quick_exit_url": app.config["QUICK_EXIT_URL"],
            "on_onion": on_onion,  # (the onion's address is not offered to a visitor who is on it)
        }


def fast_template_gettext(app) -> None:
    """Templates look up the request's translations once, not once per string as Flask-Babel's own callables do
    (about 30 µs a string: a page of the queue has over a hundred). The app never changes the language in the
    middle of a request (no force_locale or refresh), so one lookup per request holds."""

    def translations():
        if not has_request_context():
            return get_translations()
        found = getattr(request, "translations", None)  # on the request: an app context may outlive one
        if found is None:
            found = request.translations = get_translations()
        return found

    app.jinja_env.install_gettext_callables(
        gettext=lambda string: translations().ugettext(string),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        newstyle=True,
    )


def machine_time(moment, day_only: bool = False) -> str:
    """A <time datetime> value: UTC to the second (HTML allows no microseconds), or the day alone."""
    return moment.date().isoformat() if day_only else moment.isoformat(timespec="seconds") + "Z"


def select_locale() -> str:
    """Pick the language: the switcher's cookie first, then the browser's preference."""
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    chosen = request.cookies.get(current_app.config["LANGUAGE_COOKIE_NAME"])
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def connect_hooks(app: Flask) -> None:
    """What each new connection of this app's engine is set up with, for its database. On the app's own engine
    (Flask-SQLAlchemy makes it in init_app, before any connection), not on every SQLAlchemy Engine in the process."""
    with app.app_context():
        engine = db.engine
    hook = {"pysqlite": _sqlite_pragmas, "psycopg": _postgresql_plans}.get(engine.dialect.driver)  # (by driver)
    if hook:
        event.listen(engine, "connect", hook)


def _sqlite_pragmas(dbapi_connection, _record):
    """WAL for concurrent readers, a busy timeout for writers, real deletes, enforced keys."""
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=10000",
        "foreign_keys=ON",
        "secure_delete=ON",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    # SQLite's own lower() (and so ILIKE) folds only ASCII: searches must match Cyrillic in any case.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _postgresql_plans(dbapi_connection, _record):
    """Plan each query for its own values. psycopg prepares a statement run five times, and PostgreSQL then
    settles on one plan for every value: for a search, the plan of a word found everywhere is a slow plan
    for a word found nowhere, and the other way round."""
    autocommit, dbapi_connection.autocommit = dbapi_connection.autocommit, True
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.autocommit = autocommit


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def refuse_json_bodies():
    """Every form here is a form: Flask-WTF would read a JSON body as form data, and chokes on odd JSON."""
    if request.method == "POST" and request.is_json:
        abort(415)


def register_blueprints(app: Flask) -> None:
    from app import search  # noqa: F401  (the full-text index is made with the submissions table)
    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.moderation import bp as moderation_bp
    from app.public import bp as public_bp
    from app.submit import bp as submit_bp

    for blueprint in (public_bp, submit_bp, auth_bp, moderation_bp, admin_bp):
        app.register_blueprint(blueprint)

    from app.sessions import enforce_timeouts, load_user, unauthorized

    login.user_loader(load_user)
    login.unauthorized_handler(unauthorized)
    app.before_request(enforce_timeouts)
