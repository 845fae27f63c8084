"""What every form shares: the base class (Flask-WTF, but file uploads reach only file fields, and tokens carry no
id), the validators and choices several areas use, the POST-only button, and the fields of an ad (filled by its
sender, its owner at /status and a moderator alike).

Flask-WTF hands a form the files and the fields of a request together, so a file part named like a text
field ("telegram", "code") would arrive as an uploaded file where text is expected. Here each field sees
what it is made for: text fields the text values, file fields the files.
"""

import re
import unicodedata
from typing import ClassVar

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import FileField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from app import labels
from app.models import Submission
from app.passwords import MIN_LENGTH


class Form(FlaskForm):
    class Meta(FlaskForm.Meta):
        def render_field(self, field, render_kw):
            # A page may hold several forms, each with its token: an id would be the same on all (invalid HTML).
            if field.short_name == "csrf_token":
                render_kw = {"id": False} | render_kw
            return super().render_field(field, render_kw)

        def wrap_formdata(self, form, formdata):
            data = super().wrap_formdata(form, formdata)
            if not isinstance(data, CombinedMultiDict):
                return data
            wanted = {name for name, field in form._fields.items() if isinstance(field, (FileField, MultipleFileField))}
            files = MultiDict([(k, v) for k, v in request.files.items(multi=True) if k in wanted])
            return CombinedMultiDict((files, request.form))


class EmptyForm(Form):
    """A POST-only button: the CSRF token and nothing else."""


# C0/C1 control characters except tab and newline; NUL in particular cannot be stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value):
    """Normalize typed text: NFC, unix newlines, no control characters, no outer spaces."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL.sub("", value)).strip()


class MaxChars:
    """Length limit with a message that says how far over the text is."""

    def __init__(self, limit: int):
        self.limit = limit
        self.field_flags = {"maxlength": limit}

    def __call__(self, form, field):
        length = len(field.data or "")
        if length > self.limit:
            raise ValidationError(
                _("Please shorten this to %(max)d characters (now %(length)d).", max=self.limit, length=length)
            )


class OneOf:
    """A choice from a fixed list, with our own translated message."""

    field_flags: ClassVar[dict] = {"required": True}

    def __init__(self, choices, message):
        self.choices = choices
        self.message = message

    def __call__(self, form, field):
        if field.data not in self.choices:
            raise ValidationError(str(self.message))


def choices_with_prompt(mapping, prompt):
    """A select's choices: an empty first one that asks, then the mapping's (value: label) in order."""
    return [SelectChoice("", prompt)] + [SelectChoice(value, label) for value, label in mapping.items()]


class NewPassword:
    def __call__(self, form, field):
        if len(field.data or "") < MIN_LENGTH:
            raise ValidationError(_("Use at least %(min)d characters.", min=MIN_LENGTH))


class AdFields(Form):
    """What an ad says, worded for its sender and a moderator alike: one set of fields for the form that sends an
    ad, its owner's edit at /status and a moderator's edit before approving."""

    title = StringField(
        _l("Title"),
        filters=[clean_text],
        validators=[DataRequired(_l("An ad needs a title.")), MaxChars(Submission.TITLE_MAX)],
    )
    category = SelectField(
        _l("Category"),
        choices=choices_with_prompt(labels.CATEGORIES, _l("Choose a category")),
        validate_choice=False,
        validators=[OneOf(Submission.CATEGORIES, _l("Choose a category for the ad."))],
    )
    city = StringField(
        _l("City or region (optional)"), filters=[clean_text], validators=[MaxChars(Submission.CITY_MAX)]
    )
    body = TextAreaField(
        _l("Text of the ad"),
        filters=[clean_text],
        validators=[DataRequired(_l("An ad needs a text.")), MaxChars(Submission.AD_BODY_MAX)],
    )

    def text(self) -> dict:
        """The ad's fields as the model stores them (no city: None)."""
        return {
            "title": self.title.data,
            "category": self.category.data,
            "city": self.city.data or None,
            "body": self.body.data,
        }
