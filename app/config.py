"""Settings: defaults here, overridden by PRYSTAN_* environment variables, then by create_app(config)."""

import os
import shutil
from typing import ClassVar

# The site's languages, each named in itself as a speaker looks for it: the one table that the switcher, the
# browser's preference, the article form and the cookie read (as app.config["LANGUAGES"]).
LANGUAGES = {"en": "English", "ru": "Русский", "be": "Беларуская"}


class Defaults:
    # Required outside development and tests; see check().
    SECRET_KEY = None
    DATABASE_URL = None  # default: SQLite file in the instance folder
    STORAGE_URL = None  # default: instance/uploads; or s3://bucket/optional/prefix
    S3_ENDPOINT_URL = None  # an S3-compatible store of your own; default: boto3's (AWS, or AWS_ENDPOINT_URL)
    # hide_parameters: SQL errors in logs must not carry handles or texts.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_pre_ping": True, "hide_parameters": True}

    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "prystan_session"
    LANGUAGE_COOKIE_NAME = "prystan_lang"

    WTF_CSRF_TIME_LIMIT = 3600 * 4  # forms can take a long time to write

    # Attachments: limits per submission, enforced on the server and shown in the form.
    UPLOAD_MAX_FILES = 10
    UPLOAD_MAX_FILE_MB = 20
    UPLOAD_MAX_TOTAL_MB = 50
    UPLOAD_MAX_PIXELS = 50_000_000
    # Videos and voice recordings: rebuilt by ffmpeg (stream copy), with limits of their own. Without ffmpeg and
    # ffprobe (FFMPEG, FFPROBE: names on the PATH or full paths) the site refuses them and the forms do not offer them.
    UPLOAD_MAX_MEDIA_MB = 200  # per video or recording
    UPLOAD_MAX_MEDIA_TOTAL_MB = 300  # all of a submission's videos and recordings together
    UPLOAD_MAX_MEDIA_MINUTES = 15
    FFMPEG = "ffmpeg"
    FFPROBE = "ffprobe"
    # Uploaded originals and work folders: a RAM-backed folder (default: /dev/shm/prystan-<uid> where it
    # exists), so that no original with its GPS position ever rests on a disk.
    UPLOAD_WORKDIR = None
    # Resumable uploads (tus) rest here, encrypted with a key only the visitor's cookie holds (on disk is fine).
    RESUMABLE_DIR = None
    RESUMABLE_CHUNK_MB = 2  # what the browser sends per request: a broken connection re-sends less than this
    # The store's disk budget: what all uploads hold (received, still expected, or finished and waiting for their
    # form) together. Each client may reserve at most one form's totals of it (UPLOAD_MAX_TOTAL_MB and
    # UPLOAD_MAX_MEDIA_TOTAL_MB) at once, while limits are on.
    RESUMABLE_MAX_PENDING_MB = 2048
    RESUMABLE_RATELIMIT = "60 per hour"  # uploads started, per address
    RESUMABLE_RATELIMIT_MB = 1536  # MB received per hour, per address (about four forms full of videos)
    # PDFs are rebuilt from pixels: the resolution of each page (capped by UPLOAD_MAX_PIXELS) and the page limit.
    PDF_DPI = 150
    PDF_MAX_PAGES = 50
    # The sandbox of the decoders (app/uploads/sandbox.py): children at once on this machine (default: the
    # number of cores), wall-clock seconds for one submission's files, and limits per child.
    SANDBOX_CONCURRENCY = None
    SCRUB_TIMEOUT = 120
    SCRUB_CPU_SECONDS = 30
    # A video whose frames are whole pictures with metadata of their own (Motion-JPEG, PNG) or in an older codec
    # (MPEG-4 Part 2, H.263) is re-encoded from its pixels: CPU seconds it may take (a few minutes of 720p dashcam
    # video take well under this), and wall-clock seconds it adds to SCRUB_TIMEOUT once it starts.
    SCRUB_VIDEO_CPU_SECONDS = 300
    SCRUB_MEMORY_MB = 1536
    SCRUB_OUTPUT_MB = 128
    # Where the app can switch user (root, or CAP_SETUID and CAP_SETGID), the child in slot i runs as user id
    # SANDBOX_UID_BASE + i: no other process has that id, so it can touch no other process or file.
    SANDBOX_UID_BASE = 64000
    MAX_CONTENT_LENGTH = None  # derived: the total upload limit plus room for the text fields
    MAX_FORM_PARTS = 100

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Europe/Minsk"
    LANGUAGES = LANGUAGES

    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = False
    SUBMIT_RATELIMIT = "5 per minute;30 per day"  # forms taken, per address
    REFUSED_SUBMIT_RATELIMIT = "30 per hour"  # forms refused (a field to correct), per address
    # Proof of work on submissions (self-hosted ALTCHA). Without a solved challenge (no JavaScript, or sent before
    # the browser finished) a submission is still accepted (app/proof.py): on the public address under
    # NOJS_SUBMIT_RATELIMIT per address; on the onion into the queue's tab "sent without the puzzle", under
    # NOJS_ONION_RATELIMIT per form session, while that tab holds at most NOJS_QUARANTINE_MAX things.
    POW_ENABLED = True
    POW_MAX_NUMBER = 50_000  # about a second of work in a browser
    POW_MINUTES = 120  # how long a challenge stays valid (forms take time to write)
    POW_REQUIRED = False  # refuse sends and reports without a solved puzzle everywhere, the onion too
    # Harder under load: the puzzle's size doubles for every POW_LOAD_STEP answers taken in 10 minutes, site-wide,
    # up to POW_LOAD_MAX_FACTOR times the normal size.
    POW_LOAD_STEP = 30
    POW_LOAD_MAX_FACTOR = 16
    NOJS_SUBMIT_RATELIMIT = "3 per hour;10 per day"
    NOJS_ONION_RATELIMIT = "1 per 10 minutes"
    NOJS_ONION_SCRUB_RATELIMIT = "30 per hour"  # forms with files sent on the onion without the puzzle, site-wide
    NOJS_QUARANTINE_MAX = 300
    STATUS_RATELIMIT = "10 per hour"  # wrong receipt codes only

    LANGUAGE_RATELIMIT = "30 per minute"  # the language switcher (harmless, but no POST goes unlimited)
    REPORT_RATELIMIT = "10 per hour"  # reports of ads per address
    REPLY_RATELIMIT = "10 per hour;30 per day"  # answers and ad edits through the receipt, per address
    MESSAGE_RATELIMIT = "60 per hour"  # staff messages and notes, per staff member
    REPORT_THRESHOLD = 3  # reports after which a published ad goes back to the queue

    LOGIN_RATELIMIT = "10 per 15 minutes"  # failed sign-ins to one account from one address
    LOGIN_ADDRESS_RATELIMIT = "30 per hour"  # failed sign-ins from one address, all accounts together
    PASSWORD_RATELIMIT = "10 per hour"  # noqa: S105  (a rate limit, not a password): wrong current passwords (password change, authenticator set-up) per account
    # (and per account from anywhere: a growing delay, app/auth/throttle.py)

    IDLE_TIMEOUT = 30 * 60  # seconds without a request before a staff session ends
    SESSION_MAX_AGE = 12 * 3600  # seconds after sign-in before a staff session ends

    # Sealed at rest (AT-REST.md). The cost of the key that opens a staff member's secret key, derived from the
    # password with Argon2id: stronger than the password hash (64 MiB), about 0.5 s on two cores.
    KEK_OPSLIMIT = 3
    KEK_MEMLIMIT = 256 * 2**20
    # The cost of opening a receipt code (app/crypto/receipts.py), which anyone may ask for: measured on this 2-core
    # machine, 3 passes over 64 MiB take about 0.1 s (0.094 s at best, 0.107 s median; 2 passes 0.079 s). At most
    # RECEIPT_CONCURRENCY derivations run at once on the machine (default: the number of cores); a request that
    # gets no turn within RECEIPT_SLOT_WAIT_SECONDS is answered "busy" (503).
    RECEIPT_OPSLIMIT = 3
    RECEIPT_MEMLIMIT = 64 * 2**20
    RECEIPT_CONCURRENCY = None
    RECEIPT_SLOT_WAIT_SECONDS = 2.0
    # The offline recovery key's public part (flask crypto recovery-keygen): each queue epoch is sealed to it too.
    # Its fingerprint is kept at first use; a different key here is not used (a warning on /admin/users).
    RECOVERY_PUBLIC_KEY = ""

    # Retention (flask purge): days after which things are deleted for good.
    RETENTION_DAYS = 30  # rejected and withdrawn submissions, after the decision
    AD_RETENTION_DAYS = 30  # ads, after they expired or were closed
    # The staff digest (flask notify): "Please check the queue", nothing more, by e-mail and/or a Telegram bot.
    NOTIFY_EVERY_MINUTES = 60
    NOTIFY_ALWAYS = False  # send on every interval whether or not anything waits: timing then tells nothing either
    NOTIFY_CASE_AGE_DAYS = 14  # an open case this old wakes the digest once
    NOTIFY_STATE_FILE = ""  # when it was last sent and what it saw (default: notify.json in the instance folder)
    NOTIFY_EMAIL_TO = ""  # comma-separated
    NOTIFY_EMAIL_FROM = ""
    SMTP_HOST = ""
    SMTP_PORT = 587
    SMTP_STARTTLS = True
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_HELO_NAME = "localhost"  # the name the digest gives in EHLO, which relays copy into Received: headers
    NOTIFY_TELEGRAM_TOKEN = ""
    NOTIFY_TELEGRAM_CHAT_ID = ""
    TELEGRAM_API_URL = "https://api.telegram.org"
    CASE_RETENTION_DAYS = 90  # cases (information and contacts taken on), after they were marked done
    EVENT_RETENTION_DAYS = 365  # audit events
    # A submitter's Telegram username is masked to staff until one asks to see it (app/submissions/reveals.py):
    # how many each person may see in 24 hours.
    REVEALS_PER_DAY = 20
    # The site's name in every title and the header: neutral, naming no cause (a phone's history shows it).
    SITE_NAME = ""  # default: "Prystan", translated
    # A clock on everything (app/submissions/clocks.py): flask purge deletes an item waiting for moderation this
    # many days after it last entered the queue, and an open case this many days after it was last worked on,
    # unless a staff member renews it. 0: everything is due at once.
    PENDING_MAX_DAYS = 30
    CASE_IDLE_DAYS = 60

    # Rendered public pages kept per worker for anonymous readers (0: no cache). See app/pagecache.py.
    PAGE_CACHE_SIZE = 500
    # Where workers learn that the site changed, without asking PostgreSQL on each hit: a Redis URL; unset, the
    # rate limiter's Redis if it is one; false for none. (SQLite needs none.)
    PAGE_CACHE_REDIS_URL = None

    # Where "Quick exit" leads: an ordinary site that draws no attention on a watched screen.
    QUICK_EXIT_URL = "https://www.google.com/search?q=weather"

    # Number of reverse proxies in front of the app (ProxyFix x_for, x_proto); 0 = none.
    PROXY_HOPS = 0
    # Trust the proxies' X-Forwarded-Host too (only if they set it themselves, never passing a client's on).
    PROXY_TRUST_HOST = False
    # The site's addresses: absolute URLs (feeds) are built from the one a request came in on, and only their
    # hosts (and local names) are answered. Without PUBLIC_URL the site answers on 127.0.0.1 and localhost only.
    PUBLIC_URL = None
    ONION_URL = None
    # Send Onion-Location (ONION_URL + path and query) on public pages served on the public address, so that Tor
    # Browser offers the onion service. Staff pages and the onion itself never send it.
    ONION_LOCATION = False


def check(config) -> None:
    """Refuse to start with settings that would be unsafe in production."""
    secret = config.get("SECRET_KEY")
    relaxed = config.get("TESTING") or config.get("DEBUG")
    if not secret and not relaxed:
        raise RuntimeError(
            "PRYSTAN_SECRET_KEY is not set. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'` and keep it secret."
        )
    if secret and len(str(secret)) < 32 and not relaxed:
        raise RuntimeError("PRYSTAN_SECRET_KEY must be at least 32 characters long.")
    from app.addresses import check as check_addresses
    from app.crypto.epochs import parse_public

    check_addresses(config)
    if recovery := config.get("RECOVERY_PUBLIC_KEY"):
        try:
            parse_public(str(recovery))
        except ValueError:
            raise RuntimeError(
                "PRYSTAN_RECOVERY_PUBLIC_KEY is not a public key: give the 44 characters of base64 that "
                "`flask crypto recovery-keygen` printed as the public key."
            ) from None


def finish(app) -> None:
    """Derive settings that depend on others (after env and explicit overrides)."""
    config = app.config
    if config.get("SECRET_KEY") is not None:
        # from_prefixed_env parses JSON: a numeric key would arrive as an int.
        config["SECRET_KEY"] = str(config["SECRET_KEY"])
    elif config.get("TESTING") or config.get("DEBUG"):
        config["SECRET_KEY"] = os.urandom(32).hex()
    url = config.get("DATABASE_URL") or "sqlite:///" + os.path.join(app.instance_path, "prystan.db")
    config["SQLALCHEMY_DATABASE_URI"] = url
    config["STORAGE_URL"] = config.get("STORAGE_URL") or os.path.join(app.instance_path, "uploads")
    config["UPLOAD_WORKDIR"] = config.get("UPLOAD_WORKDIR") or default_workdir(app.instance_path)
    config["RESUMABLE_DIR"] = config.get("RESUMABLE_DIR") or os.path.join(app.instance_path, "resumable")
    if config.get("TRUSTED_HOSTS") is None:
        from app.addresses import trusted_hosts

        config["TRUSTED_HOSTS"] = trusted_hosts(config)
    tools = {name: shutil.which(str(config.get(name.upper()) or "")) for name in ("ffmpeg", "ffprobe")}
    config["MEDIA_TOOLS"] = tools if all(tools.values()) else None
    if not config.get("MAX_CONTENT_LENGTH"):
        # The plain form carries every file at once: photos and documents, and videos and recordings where taken.
        media = int(config["UPLOAD_MAX_MEDIA_TOTAL_MB"]) if config["MEDIA_TOOLS"] else 0
        config["MAX_CONTENT_LENGTH"] = (int(config["UPLOAD_MAX_TOTAL_MB"]) + media + 1) * 2**20


def default_workdir(instance_path: str) -> str:
    """A folder in RAM (/dev/shm) where the system has one; the instance folder otherwise (see SECURITY.md)."""
    # S108: the folder is named for this user; private_folders() (app/__init__.py) makes it 0700, and refuses to
    # start if another user made it first.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):  # noqa: S108
        return f"/dev/shm/prystan-{os.geteuid()}"  # noqa: S108
    return os.path.join(instance_path, "incoming")
