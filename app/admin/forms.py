from datetime import UTC, datetime, time

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone, to_utc
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional, Regexp, ValidationError

from app import audit, labels
from app.crypto import epochs
from app.extensions import db
from app.forms import Form, MaxChars, NewPassword, clean_text
from app.models import ID_MAX, Article, User
from app.slugs import SLUG_PATTERN

ROLE_LABELS = {"moderator": _l("Moderator"), "editor": _l("Editor"), "admin": _l("Administrator")}


def role_choices():
    return [SelectChoice(role, ROLE_LABELS[role]) for role in User.ROLES]


class CreateUserForm(Form):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(_l("Choose a username.")),
            Regexp(
                r"^[A-Za-z0-9_.-]{3,64}$", message=_l("3 to 64 Latin letters, digits, dots, dashes or underscores.")
            ),
        ],
    )
    role = SelectField(_l("Role"), choices=role_choices)
    password = PasswordField(_l("First password (they change it after signing in)"), validators=[NewPassword()])

    def validate_username(self, field):
        if db.session.scalar(select(User.id).where(User.username == field.data)):
            raise ValidationError(_("This username is taken."))


class EndAllSessionsForm(Form):
    confirm = BooleanField(
        _l("I understand that every staff member, me included, must sign in again"),
        validators=[DataRequired(_l("Tick the box to end every session."))],
    )


class RoleForm(Form):
    role = SelectField(_l("Role"), choices=role_choices)


class GrantForm(Form):
    """Give an account the older periods of the queue key: all of them, or those since a day (the site's days)."""

    scope = RadioField(
        _l("What to give"),
        choices=[
            SelectChoice("all", _l("Everything you can read")),
            SelectChoice("since", _l("Only what was sent since the date below")),
        ],
        default="all",
        validate_choice=False,
    )
    since = DateField(
        _l("Date (that day included)"),
        validators=[Optional()],
        invalid_value_message=_l("Enter a date like 2024-03-01."),
    )

    def validate_scope(self, field):
        if field.data not in ("all", "since"):
            raise ValidationError(_("Choose everything, or since the date below."))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.scope.data == "since" and not self.since.errors and self.since.data is None:
            self.since.errors.append(_("Choose the date, or choose everything."))
            return False
        typed = bool(self.since.raw_data and self.since.raw_data[0].strip())
        if self.scope.data == "all" and typed and not self.since.errors:
            self.since.errors.append(_("You chose everything: leave the date empty, or choose “since the date below”."))
            return False
        return valid

    def validate_since(self, field):
        if field.data is not None and field.data > to_user_timezone(datetime.now(UTC)).date():
            raise ValidationError(_("Choose a day that is not in the future."))

    def start(self) -> datetime | None:
        """The first moment given (naive UTC, as stored): the start of the chosen day where the site is; None for
        everything."""
        if self.scope.data != "since" or self.since.data is None:
            return None
        # (a day before any epoch gives what everything gives: no earlier day is converted, which could overflow)
        return to_utc(datetime.combine(max(self.since.data, epochs.EARLIEST_DAY), time.min))


class AuditFilterForm(Form):
    class Meta:
        csrf = False

    action = SelectField(
        _l("Action"),
        choices=lambda: [SelectChoice("", _l("Any"))] + [SelectChoice(k, v) for k, v in labels.ACTIONS.items()],
        validate_choice=False,
    )
    actor = StringField(_l("Staff member"))
    submission = IntegerField(_l("Item number"), validators=[Optional(), NumberRange(1, ID_MAX)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])

    def filters(self) -> audit.Filters:
        """What was asked, leaving out a field that is not valid (it filters nothing)."""
        return audit.Filters(
            action=self.action.data or None,
            actor=self.actor.data.strip() if self.actor.data else None,
            submission_id=None if self.submission.errors else self.submission.data,
            since=None if self.since.errors else self.since.data,
            until=None if self.until.errors else self.until.data,
        )


def language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, name) for code, name in current_app.config["LANGUAGES"].items()]


class ArticleForm(Form):
    title = StringField(
        _l("Title"),
        filters=[clean_text],
        validators=[DataRequired(_l("An article needs a title.")), MaxChars(Article.TITLE_MAX)],
    )
    slug = StringField(
        _l("Address (optional)"),
        filters=[clean_text],
        validators=[
            Optional(),
            MaxChars(Article.SLUG_MAX),
            Regexp(SLUG_PATTERN, message=_l("Use Latin letters a-z, digits and single hyphens, e.g. release-stories.")),
        ],
    )
    locale = SelectField(_l("Language of the article"), choices=language_choices)
    summary = TextAreaField(_l("Summary"), filters=[clean_text], validators=[MaxChars(Article.SUMMARY_MAX)])
    body = TextAreaField(
        _l("Text (Markdown)"),
        filters=[clean_text],
        validators=[DataRequired(_l("An article needs a text.")), MaxChars(Article.BODY_MAX)],
    )
    publish = BooleanField(_l("Published (readers can see it)"))
