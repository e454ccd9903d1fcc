"""The form generated from a settings schema: widgets per kind of field, values in and out, errors in place."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string
from flask_babel import force_locale
from helpers import form_values
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.forms.schema_form import (
    RUSSIAN_ZONES,
    apply_errors,
    country_choices,
    error_message,
    schema_form,
    values_from_form,
)
from app.services import site_settings
from app.services.settings import GlobalSettings
from app.services.site_settings import WIDGET_SETTINGS, SiteSettings

DEPARTMENTS = {"departments": [(11, "Sales"), (12, "Service")]}


def render(form) -> str:
    return render_template_string('{% import "_schema_form.html" as schema %}{{ schema.render(form, "Save") }}',
                                  form=form)


def shown(model=SiteSettings, data=None, **options):
    """The form as a GET request shows it, and its HTML."""
    form = schema_form(model, **{"choices": DEPARTMENTS, **options})(data=data or model().model_dump())
    return form, render(form)


def submitted(app, html: str, changes: dict, model=SiteSettings, **options):
    """The form bound to what a browser sends from `html` with `changes` typed in (no CSRF check here)."""
    values = MultiDict([(k, v) for k, vs in {**form_values(html), **changes}.items()
                        for v in (vs if isinstance(vs, list) else [vs])])
    with app.test_request_context("/", method="POST", data=values):
        form = schema_form(model, **{"choices": DEPARTMENTS, **options})(meta={"csrf": False})
        return form, form.validate()


def tag(html: str, name: str) -> str:
    """The opening tag of the control named `name`."""
    match = re.search(rf'<(?:input|select|textarea)[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    assert match, f"no control named {name}"
    return match.group(0)


@pytest.fixture
def ru_request(app):
    with app.test_request_context("/"):
        yield


def test_each_kind_of_field_gets_its_widget(ru_request):
    _, html = shown()
    for name in ("design-accent_color", "design-text_color", "design-background_color"):
        assert 'type="color"' in tag(html, name)
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        assert 'type="checkbox"' in tag(html, f"schedule-{day}-is_open")
        assert 'type="time" value="09:00"' in tag(html, f"schedule-{day}-opens_at")
        assert 'type="time" value="18:00"' in tag(html, f"schedule-{day}-closes_at")
    assert 'checked' in tag(html, "schedule-mon-is_open") and 'checked' not in tag(html, "schedule-sun-is_open")
    assert ('<option selected value="sequential">По очереди</option>'
            '<option value="simultaneous">Всем сразу</option>') in html
    assert 'max="60" min="0"' in tag(html, "client_delay_s") and 'type="number"' in tag(html, "client_delay_s")
    assert 'max="50" min="0"' in tag(html, "extension_delay_s")
    assert tag(html, "sms_report_numbers").startswith("<textarea") and tag(html, "texts-body").startswith("<textarea")
    assert 'type="email"' in tag(html, "missed_call_email")
    assert "multiple" in tag(html, "allowed_countries") and "multiple" in tag(html, "offered_department_ids")
    assert '<option value="11">Sales</option><option value="12">Service</option>' in html
    assert '<legend class="h5">Часы работы</legend>' in html and '<label for="timezone">Часовой пояс</label>' in html
    assert "После ответа менеджера; при 0 звоним обоим сразу." in html
    assert "{" not in re.sub(r"<[^>]+>", "", html), "no JSON anywhere"


def test_choices_put_russia_first_in_the_request_language(ru_request):
    _, html = shown()
    select = html.split('name="timezone"', 1)[1].split("</select>")[0]
    zones = re.findall(r'<option (?:selected )?value="([^"]+)"', select)
    assert zones[:len(RUSSIAN_ZONES)] == list(RUSSIAN_ZONES) and len(zones) > 300
    assert country_choices()[0] == ("RU", "Россия +7")
    assert ("DE", "Германия +49") in country_choices()
    with force_locale("en"):
        assert country_choices()[0] == ("RU", "Russia +7")
        assert "Working hours" in render(schema_form(SiteSettings, choices=DEPARTMENTS)())


def test_what_a_browser_sends_back_is_what_was_shown(app, ru_request):
    settings = SiteSettings(sms_report_numbers=["+74951234567", "+79161234567"], missed_call_email="a@b.example.com",
                            allowed_countries=["RU", "KZ"], offered_department_ids=[12], is_random_order=True)
    _, html = shown(data=settings.model_dump())
    form, is_valid = submitted(app, html, {})
    assert is_valid, form.errors
    assert SiteSettings.model_validate(values_from_form(form)) == settings


def test_lines_are_one_value_per_line_and_an_empty_email_is_none(app, ru_request):
    _, html = shown()
    form, _ = submitted(app, html, {"sms_report_numbers": "+7 495 123-45-67\r\n\r\n  +79161234567 \r\n",
                                    "missed_call_email": "  "})
    values = values_from_form(form)
    assert values["sms_report_numbers"] == ["+7 495 123-45-67", "+79161234567"]
    assert values["missed_call_email"] is None


def test_global_permission_keys_are_checkboxes_labelled_with_features(ru_request):
    _, html = shown(GlobalSettings)
    assert 'checked class="custom-control-input" id="openable_permissions-4" name="openable_permissions" ' \
           'type="checkbox" value="widget.settings.edit"' in html
    assert "Бэк-офис: проводки и журнал изменений" in html
    assert 'max="365" min="0"' in tag(html, "trial_days")


def test_allowed_keys_leave_fields_out_and_a_crafted_post_changes_nothing(app, make_client_user):
    _, account_id, _, _ = make_client_user()
    with app.test_request_context("/"):
        _, html = shown(allowed_keys={WIDGET_SETTINGS})
    assert "design-accent_color" not in html and "texts-title" not in html and "Оформление" not in html
    assert 'name="client_delay_s"' in html
    form, is_valid = submitted(app, html, {"design-accent_color": "#000000", "texts-title": "Hacked",
                                           "client_delay_s": "5"}, allowed_keys={WIDGET_SETTINGS})
    assert is_valid and "design" not in values_from_form(form) and "texts" not in values_from_form(form)
    with app.app_context():
        document = site_settings.save(account_id, None, values_from_form(form))
        db.session.commit()
        assert document.data == {"client_delay_s": 5}
        assert site_settings.effective_settings(account_id, None).design.accent_color == "#e30611"


def test_a_section_without_allowed_fields_is_left_out_and_the_rest_inherit_its_key(ru_request):
    _, html = shown(allowed_keys={site_settings.WIDGET_DESIGN})
    assert 'name="design-accent_color"' in html and "schedule-mon" not in html and 'name="timezone"' not in html


def test_errors_go_next_to_fields_into_day_rows_and_to_the_top(ru_request):
    form, _ = shown()
    bad = SiteSettings().model_dump()
    bad["schedule"]["mon"].update(opens_at="18:00", closes_at="09:00")
    bad.update(client_delay_s=99, default_country="KZ")
    bad["texts"]["title"] = "x" * 121
    with pytest.raises(ValidationError) as caught:
        SiteSettings.model_validate(bad)
    apply_errors(form, caught.value.errors())
    assert form.client_delay_s.errors == ["Значение должно быть не больше 60."]
    assert form.texts.form.title.errors == ["Текст слишком длинный (максимум 120)."]
    assert form.schedule.form.mon.form.form_errors == ["Время окончания должно быть позже времени начала."]
    html = render(form)
    assert '<p class="error invalid-feedback d-block" id="client_delay_s-error">' in html
    assert 'aria-describedby="client_delay_s-help client_delay_s-error"' in tag(html, "client_delay_s")
    assert 'id="schedule-mon-error">Время окончания должно быть позже времени начала.</p>' in html
    assert 'aria-describedby="schedule-mon-error"' in tag(html, "schedule-mon-closes_at")
    assert "schedule-tue-error" not in html


def test_a_field_the_form_already_found_wrong_keeps_its_one_message(ru_request):
    form, _ = shown()
    form.client_delay_s.errors = ["Значение должно быть между 0 и 60."]
    with pytest.raises(ValidationError) as caught:
        SiteSettings(client_delay_s=99, extension_delay_s=99)
    apply_errors(form, caught.value.errors())
    assert form.client_delay_s.errors == ["Значение должно быть между 0 и 60."]
    assert form.extension_delay_s.errors == ["Значение должно быть не больше 50."]


def test_an_error_of_the_whole_model_is_shown_above_the_form(ru_request):
    form, _ = shown()
    with pytest.raises(ValidationError) as caught:
        SiteSettings(default_country="KZ")
    apply_errors(form, caught.value.errors())
    assert form.form_errors == ["Страна по умолчанию должна быть среди разрешённых стран."]
    assert 'role="alert" id="form-error">' in render(form)


@pytest.mark.parametrize("error, message", [
    ({"type": "too_long", "msg": "List should have at most 5 items", "ctx": {"max_length": 5}},
     "Слишком много значений (максимум 5)."),
    ({"type": "string_pattern_mismatch", "msg": "String should match pattern", "ctx": {"pattern": "x"}},
     "Значение в неверном формате."),
    ({"type": "url_parsing", "msg": "Input should be a valid URL"}, "Input should be a valid URL"),
])
def test_pydantic_messages_are_in_the_interface_language(ru_request, error, message):
    assert error_message(error) == message
