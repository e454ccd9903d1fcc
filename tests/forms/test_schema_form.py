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
    errors_by_name,
    schema_form,
    values_from_form,
)
from app.services import site_settings
from app.services.settings import GlobalSettings
from app.services.site_settings import WIDGET_SETTINGS, KeywordRule, SiteSettings

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
    assert 'name="design-accent_color"' not in html and 'name="texts-title"' not in html and "Оформление" not in html
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


# Lists of sub-forms (keyword rules), optional whole numbers and optional patterned texts.

RULE_FIELDS = ("keywords", "utm_source", "utm_campaign", "scenario", "texts-title", "texts-body", "texts-button",
               "design-accent_color", "design-background_color")


def rules(*titles: str) -> dict:
    """Settings data with a keyword rule per title (keyword = the title in lower case)."""
    return SiteSettings(keyword_rules=[KeywordRule(keywords=[t.lower()], texts={"title": t}) for t in titles]
                        ).model_dump()


def cleared(index: int) -> dict:
    """What a browser sends for keyword rule `index` once every field is emptied (the select back to "any")."""
    return {f"keyword_rules-{index}-{name}": "any" if name == "scenario" else "" for name in RULE_FIELDS}


def entry_names(html: str) -> list[str]:
    return sorted(set(re.findall(r'id="(keyword_rules-\d+)"', html)))


def test_a_list_shows_its_entries_numbered_and_one_blank_entry_to_add_one(ru_request):
    form, html = shown(data=rules("Sale", "Gift"))
    assert entry_names(html) == ["keyword_rules-0", "keyword_rules-1", "keyword_rules-2"]
    assert 'value="Sale"' in tag(html, "keyword_rules-0-texts-title")
    assert 'value="Gift"' in tag(html, "keyword_rules-1-texts-title")
    assert 'value=""' in tag(html, "keyword_rules-2-texts-title")
    assert '<option selected value="any">' in html.split('name="keyword_rules-2-scenario"')[1]
    assert 'type="text"' in tag(html, "keyword_rules-2-design-accent_color"), "a colour that may be blank"
    assert 'aria-describedby="keyword_rules-help"' in html
    assert [form.keyword_rules.is_blank(entry) for entry in form.keyword_rules] == [False, False, True]
    with force_locale("en"):
        html = render(form)
    legends = re.findall(r'<legend class="h6">(.*?)</legend>', html)
    assert legends == ["No. 1", "No. 2", "New entry (no. 3)"]
    help_text = re.search(r'id="keyword_rules-help">(.*?)</small>', html).group(1)
    assert help_text.startswith("The first rule that matches the visitor wins.")
    assert "all blank or as preset is dropped on saving" in help_text and "At most 10 entries." in help_text


def test_filling_in_the_blank_entry_adds_a_rule(app, ru_request):
    _, html = shown(data=rules("Sale"))
    form, is_valid = submitted(app, html, {"keyword_rules-1-keywords": "Winter\r\nSki",
                                           "keyword_rules-1-utm_source": "yandex",
                                           "keyword_rules-1-design-accent_color": "#00ff00"})
    assert is_valid, form.errors
    settings = SiteSettings.model_validate(values_from_form(form))
    assert [rule.keywords for rule in settings.keyword_rules] == [["sale"], ["winter", "ski"]]
    added = settings.keyword_rules[1]
    assert (added.utm_source, added.utm_campaign, added.scenario) == ("yandex", None, "any")
    assert added.texts.title is None
    assert (added.design.accent_color, added.design.background_color) == ("#00ff00", None)
    assert entry_names(render(form)) == ["keyword_rules-0", "keyword_rules-1", "keyword_rules-2"], "a new blank one"


def test_a_rule_that_only_changes_a_preset_value_is_kept(app, ru_request):
    _, html = shown()
    form, is_valid = submitted(app, html, {"keyword_rules-0-scenario": "exit_intent"})
    assert is_valid and values_from_form(form)["keyword_rules"][0]["scenario"] == "exit_intent"


def test_blanking_a_rule_removes_it_and_the_rest_keep_their_order(app, ru_request):
    _, html = shown(data=rules("Sale", "Gift", "Ski"))
    form, is_valid = submitted(app, html, cleared(1))
    assert is_valid, form.errors
    kept = SiteSettings.model_validate(values_from_form(form)).keyword_rules
    assert [rule.texts.title for rule in kept] == ["Sale", "Ski"]
    html = render(form)
    assert entry_names(html) == ["keyword_rules-0", "keyword_rules-1", "keyword_rules-2"]
    assert 'value="Ski"' in tag(html, "keyword_rules-1-texts-title") and 'value=""' in tag(
        html, "keyword_rules-2-texts-title")


def test_errors_of_a_rule_land_on_its_fields_even_after_a_blank_one_is_dropped(app, ru_request):
    _, html = shown(data=rules("Sale", "Gift"))
    form, is_valid = submitted(app, html, {**cleared(0), "keyword_rules-1-texts-title": "x" * 121,
                                           "keyword_rules-1-design-accent_color": "red"})
    assert is_valid, "the form's own checks pass: pydantic finds these"
    with pytest.raises(ValidationError) as caught:
        SiteSettings.model_validate(values_from_form(form))
    assert {error["loc"] for error in caught.value.errors()} == {
        ("keyword_rules", 0, "texts", "title"), ("keyword_rules", 0, "design", "accent_color")}
    apply_errors(form, caught.value.errors())
    entry = form.keyword_rules[0].form
    assert entry.texts.form.title.errors == ["Текст слишком длинный (максимум 120)."]
    assert entry.design.form.accent_color.errors == ["Значение в неверном формате."]
    html = render(form)
    assert 'value="red"' in tag(html, "keyword_rules-0-design-accent_color")
    assert 'id="keyword_rules-0-design-accent_color-error">Значение в неверном формате.</p>' in html
    assert 'aria-describedby="keyword_rules-0-texts-title-error"' in tag(html, "keyword_rules-0-texts-title")
    assert html.count('class="error invalid-feedback') == 2
    assert errors_by_name(form) == {"keyword_rules-0-texts-title": ["Текст слишком длинный (максимум 120)."],
                                    "keyword_rules-0-design-accent_color": ["Значение в неверном формате."]}


def test_at_most_ten_rules(app, ru_request):
    titles = [f"Rule {n}" for n in range(10)]
    _, html = shown(data=rules(*titles[:9]))
    assert len(entry_names(html)) == 10, "nine rules and a blank one"
    form, html = shown(data=rules(*titles))
    assert len(entry_names(html)) == 10 and not any(map(form.keyword_rules.is_blank, form.keyword_rules)), \
        "ten rules: no blank entry"
    crafted = {f"keyword_rules-{n}-{name}": value for n in (10, 11, 12)
               for name, value in (("texts-title", f"Extra {n}"), ("scenario", "any"))}
    form, _ = submitted(app, html, crafted)
    assert len(form.keyword_rules.entries) == 11, "one too many is shown back with an error; the rest not taken"
    with pytest.raises(ValidationError) as caught:
        SiteSettings.model_validate(values_from_form(form))
    apply_errors(form, caught.value.errors())
    assert form.keyword_rules.form_errors == ["Слишком много значений (максимум 10)."]
    html = render(form)
    assert 'id="keyword_rules-error">Слишком много значений (максимум 10).</p>' in html
    assert 'aria-describedby="keyword_rules-help keyword_rules-error"' in html
    assert errors_by_name(form) == {"keyword_rules": ["Слишком много значений (максимум 10)."]}


def test_an_optional_whole_number_may_be_left_blank(app, ru_request):
    _, html = shown(data=SiteSettings(metrika_counter_id=12345).model_dump())
    assert 'type="number"' in tag(html, "metrika_counter_id") and 'value="12345"' in tag(html, "metrika_counter_id")
    assert 'min="1"' in tag(html, "metrika_counter_id")
    for typed, expected in (("", None), ("  ", None), ("678", 678)):
        form, is_valid = submitted(app, html, {"metrika_counter_id": typed})
        assert is_valid, form.errors
        assert values_from_form(form)["metrika_counter_id"] == expected
    for typed in ("abc", "0"):
        form, is_valid = submitted(app, html, {"metrika_counter_id": typed})
        assert not is_valid and form.metrika_counter_id.errors, typed


def test_an_optional_text_with_a_pattern_is_none_when_blank_and_checked_when_not(app, ru_request):
    _, html = shown()
    form, _ = submitted(app, html, {"privacy_policy_url": "  "})
    assert values_from_form(form)["privacy_policy_url"] is None
    form, _ = submitted(app, html, {"privacy_policy_url": "ftp://example.com/policy"})
    with pytest.raises(ValidationError) as caught:
        SiteSettings.model_validate(values_from_form(form))
    apply_errors(form, caught.value.errors())
    assert form.privacy_policy_url.errors == ["Значение в неверном формате."]


def test_a_list_is_edited_whole_under_its_own_key(ru_request):
    _, html = shown(allowed_keys={site_settings.WIDGET_TEXTS})
    assert 'name="keyword_rules-0-design-accent_color"' in html, "the rule's colours come with the rule"
    _, html = shown(allowed_keys={site_settings.WIDGET_DESIGN})
    assert "keyword_rules" not in html
