from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField


class LanguageForm(FlaskForm):
    next = HiddenField()
    lang = SubmitField()
