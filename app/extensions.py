"""Extensions, created unbound and attached to the app in create_app()."""

from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.security import limiter_key

# Named constraints keep Alembic's batch mode (SQLite) and downgrades deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()


def _limit_reached(limit) -> None:
    """A limit reached on staff and sign-in pages is a security event; on the public forms, /status and the readers'
    pages it may be a submitter's own mistake, whose moment the journal would keep (app/audit.py): no line."""
    from flask import request

    from app import seclog
    from app.security import PUBLIC_BLUEPRINTS

    if request.blueprint not in PUBLIC_BLUEPRINTS:
        seclog.event("rate_limited", endpoint=request.endpoint, method=request.method, limit=str(limit.limit))


limiter = Limiter(key_func=limiter_key, on_breach=_limit_reached)
