from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from app.forms import EmptyForm, Form, MaxChars, NewPassword, clean_text  # noqa: F401  (EmptyForm: the routes' buttons)
from app.models import SecurityKey


class LoginForm(Form):
    username = StringField(
        _l("Username"), validators=[DataRequired(_l("Enter your username."))], render_kw={"autocomplete": "username"}
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    otp = StringField(
        _l("One-time code (if you use an authenticator app)"),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    next = HiddenField()


class PasswordForm(Form):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(_l("New password"), validators=[NewPassword()], render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new", _l("The two new passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class TotpForm(Form):
    """Enrol (or replace) an authenticator app. The secret is the server's (factors.pending_secret), never a field."""

    code = StringField(
        _l("Code from the app"),
        validators=[DataRequired(_l("Enter the 6-digit code."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    current = StringField(
        _l("A code from your current app, or a recovery code"), render_kw={"autocomplete": "one-time-code"}
    )


class KeySignInForm(Form):
    """The second step of a sign-in with a security key: what the browser's authenticator answered (JavaScript)."""

    assertion = HiddenField()


class AddKeyForm(Form):
    """Register a security key: a name, the password, and a working factor when the account has one."""

    name = StringField(
        _l("Name of the key"),
        filters=[clean_text],
        validators=[
            DataRequired(_l("Give the key a name, such as “blue key” or “laptop”.")),
            MaxChars(SecurityKey.NAME_MAX),
        ],
    )
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    current = StringField(
        _l("A code from your authenticator app, or a recovery code"), render_kw={"autocomplete": "one-time-code"}
    )
    credential = HiddenField()
    assertion = HiddenField()


class RemoveKeyForm(Form):
    """Remove a key: the password, and, for the account's last factor, the key itself."""

    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    assertion = HiddenField()
