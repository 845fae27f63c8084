from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from app import labels
from app.forms import Form, MaxChars, OneOf, clean_text
from app.models import Report, Submission


class AdFilterForm(Form):
    """Filters of the ad list, sent by GET so that a filtered list can be bookmarked and shared."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), filters=[clean_text], validators=[MaxChars(100)])
    category = SelectField(
        _l("Category"),
        choices=[SelectChoice("", _l("All categories"))] + [SelectChoice(k, v) for k, v in labels.CATEGORIES.items()],
        validate_choice=False,
    )
    city = StringField(_l("City"), filters=[clean_text], validators=[MaxChars(Submission.CITY_MAX)])


class ReportForm(Form):
    reason = RadioField(
        _l("What is wrong with this ad?"),
        choices=[SelectChoice(k, v) for k, v in labels.REPORT_REASONS.items()],
        validate_choice=False,
        validators=[OneOf(Report.REASONS, _l("Choose what is wrong with the ad."))],
    )
    note = TextAreaField(
        _l("Anything a moderator should know (optional)"), filters=[clean_text], validators=[MaxChars(Report.NOTE_MAX)]
    )
