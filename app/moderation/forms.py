from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from app import labels
from app.forms import AdFields, Form, MaxChars, OneOf, choices_with_prompt, clean_text
from app.models import ID_MAX, Message, Note, Submission


class FilterForm(Form):
    """Queue filters, sent by GET: bookmarkable, no CSRF needed for reading."""

    class Meta:
        csrf = False

    kind = HiddenField()
    view = HiddenField()
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice(k, v) for k, v in labels.STATUSES.items() if k != "withdrawn"],
        default="pending",
    )
    category = SelectField(
        _l("Category"), choices=choices_with_prompt(labels.CATEGORIES, _l("Any")), validate_choice=False
    )
    files = SelectField(
        _l("Attachments"),
        choices=[
            SelectChoice("", _l("Any")),
            SelectChoice("yes", _l("With files")),
            SelectChoice("no", _l("Without files")),
        ],
        validate_choice=False,
    )
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
    q = StringField(_l("Search"), filters=[clean_text], validators=[MaxChars(100)])


class ActionForm(Form):
    """Every action carries the version of the item its author saw."""

    # Hidden: no required, min or max attributes (HTML allows none on a hidden input); checked on the server.
    version = IntegerField(widget=HiddenInput(), validators=[InputRequired(), NumberRange(1, ID_MAX)])


class RejectForm(ActionForm):
    reason = SelectField(
        _l("Reason (the submitter reads it)"),
        choices=choices_with_prompt(labels.REJECT_REASONS, _l("Choose a reason")),
        validate_choice=False,
        validators=[OneOf(tuple(labels.REJECT_REASONS), _l("Choose a reason."))],
    )
    note = TextAreaField(
        _l("Note to the submitter (optional)"), filters=[clean_text], validators=[MaxChars(Submission.NOTE_MAX)]
    )


class EditAdForm(ActionForm, AdFields):
    """A moderator corrects an ad before approving it."""


class AssignForm(ActionForm):
    assignee = SelectField(_l("Assigned to"), validate_choice=False)

    def set_choices(self, users) -> None:
        self.assignee.choices = [SelectChoice(str(u.id), u.username) for u in users]

    def validate_assignee(self, field):
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_("Choose a colleague from the list."))

    @property
    def assignee_id(self) -> int:
        return int(self.assignee.data)


class DoneForm(ActionForm):
    forget = BooleanField(_l("Forget the Telegram username now (it cannot be restored)"))


class NoteForm(Form):
    # Not "note": the reject form's note to the submitter has that name on the same page.
    internal_note = TextAreaField(
        _l("Internal note (only staff read it)"),
        filters=[clean_text],
        validators=[DataRequired(_l("Write the note first.")), MaxChars(Note.BODY_MAX)],
    )


class MessageForm(Form):
    message = TextAreaField(
        _l("Message to the sender"),
        filters=[clean_text],
        validators=[DataRequired(_l("Write the message first.")), MaxChars(Message.BODY_MAX)],
    )


class DeleteForm(Form):
    confirm = BooleanField(
        _l("I understand that this item, its files, notes and messages will be deleted for good"),
        validators=[DataRequired(_l("Tick the box to confirm the deletion."))],
    )


class RevealForm(Form):
    """Ask to see a submitter's Telegram username (app/submissions/reveals.py checks the reason)."""

    # Not "reason": the reject form's reason has that name on the same page.
    reveal_reason = SelectField(
        _l("Why do you need it?"),
        choices=choices_with_prompt(labels.REVEAL_REASONS, _l("Choose…")),
        validate_choice=False,
    )


class RenewForm(Form):
    """Keep an item past its clock (app/submissions/clocks.py), for a reason of the list."""

    renew_reason = SelectField(
        _l("Why keep it longer?"),
        choices=choices_with_prompt(labels.RENEW_REASONS, _l("Choose…")),
        validators=[InputRequired(_l("Choose why it should be kept."))],
        validate_choice=False,
    )
