"""Forms generated from pydantic models: field types and `json_schema_extra` hints choose the widgets."""
from __future__ import annotations

import datetime as dt
import types
import typing
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types
import phonenumbers
from babel import Locale
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import BaseModel, EmailStr
from pydantic.fields import FieldInfo
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    FieldList,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.csrf.core import CSRFTokenField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.form import BaseForm
from wtforms.utils import unset_value
from wtforms.validators import Email, InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ColorInput, ListWidget

from app.services.permissions import FEATURES

Choices = Mapping[str, Sequence[tuple[Any, str]]]

RUSSIAN_ZONES = ("Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
                 "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
                 "Asia/Magadan", "Asia/Kamchatka")
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]
MULTI_SELECT_SIZE = 8

# pydantic's own messages are English: the same in the interface language, filled from the error's `ctx`.
MESSAGES = {
    "string_pattern_mismatch": _l("The value does not have the expected format."),
    "string_too_short": _l("The text is too short (minimum %(min_length)s)."),
    "string_too_long": _l("The text is too long (maximum %(max_length)s)."),
    "too_short": _l("Too few values (minimum %(min_length)s)."),
    "too_long": _l("Too many values (maximum %(max_length)s)."),
    "greater_than_equal": _l("The value must be at least %(ge)s."),
    "less_than_equal": _l("The value must be at most %(le)s."),
    "int_type": _l("Enter a whole number."),
    "int_parsing": _l("Enter a whole number."),
    "literal_error": _l("Choose one of the options."),
    "time_type": _l("Enter a time as HH:MM."),
    "time_parsing": _l("Enter a time as HH:MM."),
    "missing": _l("This field is required."),
}
# WTForms' own Russian for this message is marked fuzzy, so it would show in English.
NOT_AMONG_CHOICES = _l("Not among the options: '%(value)s'.")
LIST_HELP = _l("To add an entry, fill in the blank one at the end. An entry whose fields are all blank or as "
               "preset is dropped on saving: clear an entry to remove it.")
LIST_LIMIT = _l("At most %(count)s entries.")


class SectionForm(FlaskForm):
    """A nested section of a generated form; the CSRF token is the top form's."""

    class Meta:
        csrf = False


class WeekField(FormField):
    """A weekly schedule, rendered as a table with a row per day."""


class LinesField(TextAreaField):
    """A list of strings edited one per line."""

    def _value(self) -> str:
        return "\n".join(self.data or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [line.strip() for line in valuelist[0].splitlines() if line.strip()]


class ModelListField(FieldList):
    """A list of sub-forms: the entries given plus one blank entry (the item's defaults) to add a new one.

    Entries left blank (every value empty or as preset) are dropped from what was submitted, so the entries'
    indices are those of the list the schema validates, and errors located by index land on the right entry.
    Error messages about the list as a whole go to `form_errors`, as for a form.
    """

    def __init__(self, unbound_field: UnboundField, *, blank: dict, limit: int | None, **kwargs):
        super().__init__(unbound_field, max_entries=None if limit is None else limit + 1, **kwargs)
        self.blank, self.limit = blank, limit
        self.form_errors: list[str] = []

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        if formdata:
            self.entries = [entry for entry in self.entries if not self.is_blank(entry)]
            self._compact_indices()
        if self.limit is None or len(self.entries) < self.limit:
            self.append_entry(self.blank)

    def validate(self, form, extra_validators=()) -> bool:
        """Only the filled entries are checked: the blank one is not submitted as a value."""
        everything, self.entries = self.entries, self.filled()
        try:
            return super().validate(form, extra_validators)
        finally:
            self.entries = everything

    def filled(self) -> list[FormField]:
        return [entry for entry in self.entries if not self.is_blank(entry)]

    def is_blank(self, entry: FormField) -> bool:
        return _is_blank(values_from_form(entry.form), self.blank)


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


@dataclass(frozen=True)
class _Build:
    allowed_keys: frozenset[str] | None
    choices: Choices

    def permits(self, key: str | None) -> bool:
        return key is None or self.allowed_keys is None or key in self.allowed_keys


@dataclass(frozen=True)
class _Spec:
    """One schema field as the generator sees it: its type without `| None`, its hints, the key that edits it."""

    name: str
    info: FieldInfo
    annotation: Any
    is_optional: bool
    hints: dict
    key: str | None

    @property
    def options(self) -> dict:
        return {"label": self.info.title or self.name, "description": self.info.description or ""}

    def bound(self, kind: type, attribute: str) -> Any:
        return next((getattr(m, attribute) for m in self.info.metadata if isinstance(m, kind)), None)


def schema_form(model: type[BaseModel], *, allowed_keys: Iterable[str] | None = None,
                choices: Choices | None = None) -> type[FlaskForm]:
    """A FlaskForm class editing `model`: only fields whose `permission` is in `allowed_keys` (None: all).

    `choices` gives the options of `choices` hints that depend on the caller, e.g. {"departments": [(id, name)]}.
    """
    build = _Build(None if allowed_keys is None else frozenset(allowed_keys), choices or {})
    return _form_class(model, FlaskForm, _fields(model, build, None))


def values_from_form(form: BaseForm) -> dict:
    """The submitted values as a nested dict shaped like the schema, with only the fields the form has.

    A list of sub-forms gives its filled entries only.
    """
    return {field.short_name: _field_value(field) for field in form if not isinstance(field, CSRFTokenField)}


def apply_errors(form: BaseForm, errors: Iterable[dict]) -> None:
    """Put pydantic's errors next to the fields their `loc` names; errors of a (sub)model go to its form.

    A field shows one message: one that already has an error (from the form's own checks) keeps it.
    """
    for error in errors:
        target = _locate(form, error["loc"])
        if isinstance(target, (BaseForm, ModelListField)):
            target.form_errors.append(error_message(error))
        elif not target.errors:
            target.errors = [error_message(error)]


def errors_by_name(form: BaseForm, name: str = "__all__") -> dict[str, list[str]]:
    """Every error message of a (validated) form by the name of its control, as the browser posts it.

    Errors of a section or of a whole list go under the section's or the list's name, the form's own under `name`.
    """
    found = {name: [str(m) for m in form.form_errors]} if form.form_errors else {}
    for field in form:
        if isinstance(field, FormField):
            found.update(errors_by_name(field.form, field.name))
        elif isinstance(field, ModelListField):
            found.update({field.name: list(field.form_errors)} if field.form_errors else {})
            for entry in field.entries:
                found.update(errors_by_name(entry.form, entry.name))
        elif field.errors:
            found[field.name] = [str(m) for m in field.errors]
    return found


def error_message(error: dict) -> str:
    """A pydantic error in the interface language."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    template = MESSAGES.get(error["type"])
    return str(template) % error.get("ctx", {}) if template is not None else error["msg"]


def country_choices() -> list[tuple[str, str]]:
    """Phone regions named in the current language with their calling codes, Russia first."""
    names = (get_locale() or Locale.parse("ru")).territories
    others = sorted(phonenumbers.SUPPORTED_REGIONS - {"RU"}, key=lambda code: names.get(code, code).casefold())
    return [(code, f"{names.get(code, code)} +{phonenumbers.country_code_for_region(code)}")
            for code in ("RU", *others)]


def timezone_choices() -> list[tuple[str, str]]:
    """Every time zone, Russia's from west to east first."""
    others = sorted(zoneinfo.available_timezones() - set(RUSSIAN_ZONES))
    return [(zone, zone) for zone in (*RUSSIAN_ZONES, *others)]


def permission_choices() -> list[tuple[str, str]]:
    return list(FEATURES.items())


PROVIDERS = {"countries": country_choices, "timezones": timezone_choices, "permissions": permission_choices}


def _form_class(model: type[BaseModel], base: type[FlaskForm], fields: dict[str, Any]) -> type[FlaskForm]:
    return type(f"{model.__name__}Form", (base,), fields)


def _fields(model: type[BaseModel], build: _Build, permission: str | None) -> dict[str, Any]:
    fields = {}
    for name, info in model.model_fields.items():
        annotation, is_optional = _without_none(info.annotation)
        hints = _hints(annotation, info)
        spec = _Spec(name, info, annotation, is_optional, hints, hints.get("permission", permission))
        field = _field(spec, build) if build.permits(spec.key) else None
        if field is not None:
            fields[name] = field
    return fields


def _hints(annotation: Any, info: FieldInfo) -> dict:
    """The field's hints over its model's: a section's widget may come from its model."""
    model_hints = annotation.model_config.get("json_schema_extra") if _is_model(annotation) else None
    return {**_dict(model_hints), **_dict(info.json_schema_extra)}


def _field(spec: _Spec, build: _Build):
    if "choices" in spec.hints:
        return _choice_field(spec, build)
    if _is_model(spec.annotation):
        return _section_field(spec, build)
    if typing.get_origin(spec.annotation) is list and _is_model(typing.get_args(spec.annotation)[0]):
        return _list_field(spec, build)
    if typing.get_origin(spec.annotation) is typing.Literal:
        labels = spec.hints.get("labels", {})
        return SelectField(choices=[SelectChoice(value, labels.get(value, value))
                                    for value in typing.get_args(spec.annotation)], **spec.options)
    if spec.annotation == list[str] and spec.hints.get("widget") == "lines":
        return LinesField(render_kw={"rows": 3}, **spec.options)
    return _scalar_field(spec)


def _scalar_field(spec: _Spec):
    if spec.annotation is bool:
        return BooleanField(**spec.options)
    if spec.annotation is int:
        return _integer_field(spec)
    if spec.annotation is dt.time:
        return TimeField(format=TIME_FORMATS, **spec.options)
    if spec.annotation is EmailStr:
        return EmailField(validators=[Optional() if spec.is_optional else InputRequired(), Email()],
                          filters=[_blank_to_none], **spec.options)
    if spec.annotation is str:
        return _text_field(spec)
    raise TypeError(f"no form field for {spec.name}: {spec.annotation!r}")


def _integer_field(spec: _Spec) -> Field:
    """A whole number within the schema's bounds; an optional one may be left blank (None)."""
    low, high = spec.bound(annotated_types.Ge, "ge"), spec.bound(annotated_types.Le, "le")
    limits = {name: value for name, value in (("min", low), ("max", high)) if value is not None}
    validators = [Optional()] if spec.is_optional else []
    return IntegerField(validators=[*validators, NumberRange(low, high)], render_kw=limits, **spec.options)


def _text_field(spec: _Spec) -> Field:
    widget = spec.hints.get("widget")
    longest = spec.bound(annotated_types.MaxLen, "max_length")
    field_class = TextAreaField if widget == "textarea" else StringField
    extra = {"widget": ColorInput()} if widget == "color" else {}
    return field_class(render_kw={"maxlength": longest} if longest else {},
                       filters=[_blank_to_none] if spec.is_optional else [], **extra, **spec.options)


def _choice_field(spec: _Spec, build: _Build) -> Field:
    is_list = typing.get_origin(spec.annotation) is list
    item = typing.get_args(spec.annotation)[0] if is_list else spec.annotation
    choices = [SelectChoice(value, label) for value, label in _choices(spec.hints["choices"], build)]
    if not is_list:
        return SelectField(choices=choices, coerce=item, **spec.options)
    if spec.hints.get("widget") == "checkboxes":
        return CheckboxesField(choices=choices, coerce=item, invalid_choice_message=NOT_AMONG_CHOICES, **spec.options)
    return SelectMultipleField(choices=choices, coerce=item, invalid_choice_message=NOT_AMONG_CHOICES,
                               render_kw={"size": MULTI_SELECT_SIZE}, **spec.options)


def _choices(source: str, build: _Build) -> Sequence[tuple[Any, str]]:
    if source in build.choices:
        return build.choices[source]
    if source in PROVIDERS:
        return PROVIDERS[source]()
    raise KeyError(f"the form needs the choices {source!r}")


def _section_field(spec: _Spec, build: _Build) -> FormField | None:
    fields = _fields(spec.annotation, build, spec.key)
    if not fields:
        return None
    field_class = WeekField if spec.hints.get("widget") == "week" else FormField
    return field_class(_form_class(spec.annotation, SectionForm, fields), **spec.options)


def _list_field(spec: _Spec, build: _Build) -> ModelListField:
    """Entries of a list of models; an item is edited whole, under the list's permission key."""
    item = typing.get_args(spec.annotation)[0]
    fields = _fields(item, _Build(None, build.choices), None)
    limit = spec.bound(annotated_types.MaxLen, "max_length")
    return ModelListField(FormField(_form_class(item, SectionForm, fields)), blank=_defaults(item), limit=limit,
                          label=spec.options["label"], description=_list_help(spec.info.description, limit))


def _list_help(description: Any, limit: int | None) -> LazyString:
    def text() -> str:
        limit_text = str(LIST_LIMIT) % {"count": limit} if limit is not None else None
        return " ".join(str(part) for part in (description, LIST_HELP, limit_text) if part)
    return LazyString(text)


def _defaults(model: type[BaseModel]) -> dict:
    """The model's defaults as form data (nested models as dicts); fields without a default are left out."""
    values = {name: info.get_default(call_default_factory=True)
              for name, info in model.model_fields.items() if not info.is_required()}
    return {name: value.model_dump() if isinstance(value, BaseModel) else value for name, value in values.items()}


def _is_blank(value: Any, default: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_blank(v, default.get(k) if isinstance(default, dict) else None) for k, v in value.items())
    return value in (None, "", []) or value == default


def _field_value(field: Field) -> Any:
    if isinstance(field, FormField):
        return values_from_form(field.form)
    if isinstance(field, ModelListField):
        return [values_from_form(entry.form) for entry in field.filled()]
    return field.data


def _locate(form: BaseForm, loc: Sequence) -> BaseForm | ModelListField | Field:
    """The deepest form or field `loc` names: a field for a list item's error, the form for an unknown name."""
    target = form
    for part in loc:
        field = _child(target, part)
        if field is None:
            break
        target = field.form if isinstance(field, FormField) else field
    return target


def _child(target: BaseForm | Field, part: str | int) -> Field | None:
    if isinstance(target, BaseForm) and isinstance(part, str):
        return target[part] if part in target else None
    if isinstance(target, ModelListField) and isinstance(part, int):
        return target.entries[part] if 0 <= part < len(target.entries) else None
    return None


def _without_none(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(arg for arg in args if arg is not type(None)), True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _blank_to_none(value: Any) -> Any:
    return (value.strip() or None) if isinstance(value, str) else value
