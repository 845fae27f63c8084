"""Public forms. Every field keeps what was typed; every error says what to change."""

from typing import ClassVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, ValidationError

from app import labels, receipts, telegram
from app.forms import AdFields, Form, MaxChars, OneOf, choices_with_prompt, clean_text
from app.models import Message, Submission


class TelegramName:
    """Require a usable Telegram username; keep what was typed in the field, the bare name on the form."""

    field_flags: ClassVar[dict] = {"required": True}

    def __call__(self, form, field):
        try:
            form.telegram_name = telegram.normalize(field.data or "")
        except telegram.InvalidHandle as error:
            raise ValidationError(str(error.message)) from None


class SubmitForm(Form):
    """Fields every public form has: the Telegram handle and a honeypot."""

    telegram = StringField(
        _l("Your Telegram username"),
        filters=[clean_text],
        validators=[TelegramName()],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    attachments = MultipleFileField(_l("Files (optional)"))
    # Honeypot: hidden from people by CSS, labelled for screen readers, filled by bots.
    website = StringField(_l("Leave this field empty"), render_kw={"autocomplete": "off", "tabindex": "-1"})

    def validate_website(self, field):
        if field.data:
            raise ValidationError(_("This field must stay empty."))

    def fields_for_model(self) -> dict:
        """Return the submitted values the model stores (form-specific fields added by subclasses)."""
        return {"telegram": self.telegram_name, "body": self.body.data}


class InformationForm(SubmitForm):
    title = StringField(_l("Subject (optional)"), filters=[clean_text], validators=[MaxChars(Submission.TITLE_MAX)])
    body = TextAreaField(
        _l("What do you want to tell us?"),
        filters=[clean_text],
        validators=[DataRequired(_l("Please write what you want to tell us.")), MaxChars(Submission.BODY_MAX)],
    )

    def fields_for_model(self) -> dict:
        return super().fields_for_model() | {"title": self.title.data or None}


class ContactForm(SubmitForm):
    purpose = SelectField(
        _l("How can you help?"),
        choices=choices_with_prompt(labels.PURPOSES, _l("Choose one")),
        validate_choice=False,
        validators=[OneOf(Submission.PURPOSES, _l("Choose how you can help."))],
    )
    body = TextAreaField(
        _l("Tell us about your offer"),
        filters=[clean_text],
        validators=[DataRequired(_l("Please describe what you can offer.")), MaxChars(Submission.BODY_MAX)],
    )

    def fields_for_model(self) -> dict:
        return super().fields_for_model() | {"purpose": self.purpose.data}


class AdForm(SubmitForm, AdFields):
    show_contact = BooleanField(_l("Show my Telegram username with the published ad"))

    def fields_for_model(self) -> dict:
        return super().fields_for_model() | self.text() | {"show_contact": bool(self.show_contact.data)}


FORMS = {"information": InformationForm, "contact": ContactForm, "ad": AdForm}


class StatusForm(Form):
    code = StringField(
        _l("Receipt code"),
        filters=[clean_text],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )

    def validate_code(self, field):
        if not field.data:
            raise ValidationError(_("Enter the 16-digit code you received."))
        if receipts.parse(field.data) is None:
            raise ValidationError(_("A receipt code has 16 digits, for example 1234 5678 9012 3456."))


class WithdrawForm(Form):
    code = HiddenField()
    confirm = BooleanField(
        _l("I understand that my submission and its files will be deleted for good"),
        validators=[DataRequired(_l("Tick the box to confirm that you want to delete it."))],
    )


class HideForm(Form):
    """Hide the staff messages read so far from whoever holds the receipt code: the code is the only credential."""

    code = HiddenField()


class AdOwnerForm(Form):
    """Renew or close an ad: the receipt code is the owner's only credential."""

    code = HiddenField()


class AdEditForm(AdFields):
    """The owner changes the ad: it goes back to the queue."""

    code = HiddenField()


class ReplyForm(Form):
    """The submitter's answer to a staff message, with files through the same intake as the forms."""

    code = HiddenField()
    reply = TextAreaField(
        _l("Your answer"),
        filters=[clean_text],
        validators=[DataRequired(_l("Please write your answer.")), MaxChars(Message.BODY_MAX)],
    )
    attachments = MultipleFileField(_l("Files (optional)"))
