"""The base of every form: Flask-WTF, but file uploads reach only file fields, and tokens carry no id.

Flask-WTF hands a form the files and the fields of a request together, so a file part named like a text
field ("telegram", "code") would arrive as an uploaded file where text is expected. Here each field sees
what it is made for: text fields the text values, file fields the files.
"""

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import FileField, MultipleFileField


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
