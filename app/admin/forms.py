from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional, Regexp, ValidationError

from app import labels
from app.auth.forms import NewPassword
from app.extensions import db
from app.models import User

ROLE_LABELS = {"moderator": _l("Moderator"), "editor": _l("Editor"), "admin": _l("Administrator")}


def role_choices():
    return [SelectChoice(role, ROLE_LABELS[role]) for role in User.ROLES]


class CreateUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Choose a username.")),
        Regexp(r"^[A-Za-z0-9_.-]{3,64}$", message=_l("3 to 64 Latin letters, digits, dots, dashes or underscores.")),
    ])
    role = SelectField(_l("Role"), choices=role_choices)
    password = PasswordField(_l("First password (they change it after signing in)"), validators=[NewPassword()])

    def validate_username(self, field):
        if db.session.scalar(select(User.id).where(User.username == field.data)):
            raise ValidationError(_("This username is taken."))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), choices=lambda: [SelectChoice("", _l("Any"))] + [
        SelectChoice(k, v) for k, v in labels.ACTIONS.items()], validate_choice=False)
    actor = StringField(_l("Staff member"))
    submission = IntegerField(_l("Item number"), validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
