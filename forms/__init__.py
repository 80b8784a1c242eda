"""Generated-form rendering: JSON Schema -> HTML widgets, and posted values -> typed data + field errors.

    values = flatten(schema, data)                      # stored data -> form values
    data, type_errors = parse(schema, request.form)     # posted values -> typed data
    errors = validate(schema, data, lang, type_errors)  # jsonschema -> {path: [messages]}
    sections = build_form(schema, ui, values, errors, lang)  # -> widgets for forms/widgets.html
"""
from flask import Blueprint

from forms.validate import FORM_ERROR, validate
from forms.values import apply_row_action, flatten, parse
from forms.widgets import build_form, text

# Registering this blueprint makes forms/templates/forms/*.html available to the app's Jinja loader.
blueprint = Blueprint("forms", __name__, template_folder="templates")

__all__ = ["FORM_ERROR", "apply_row_action", "blueprint", "build_form", "flatten", "parse", "text", "validate"]
