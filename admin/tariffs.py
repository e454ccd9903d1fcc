"""Tariffs (B1, B3): the administrator adds versions of the price list, each taking effect at a date.

A version in effect (its `effective_from` has passed) is history: charges refer to it, so it is neither
edited nor deleted; a newer version replaces it. A version still to come may be changed or withdrawn.
Managers read the versions in a read-only view of their own (they quote prices to clients).
"""
from __future__ import annotations

import datetime as dt
import decimal
import re
import types

import phonenumbers
import sqlalchemy as sa
from flask import flash, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import inspect
from wtforms import DecimalField, IntegerField, SelectField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange

from admin.base import SecureModelView
from app.db import utcnow
from app.extensions import db
from app.models import Tariff, TariffRate
from app.templating import money

NUMBER_CLASSES = [SelectChoice("mobile", _l("Mobile")), SelectChoice("fixed", _l("Fixed"))]
LEGS = [SelectChoice("manager", _l("To the manager")), SelectChoice("client", _l("To the visitor"))]
ANY_COUNTRY = "*"
MAX_DISCOUNT_PERCENT = 90
MAX_RATE_KOP = 100_000  # 1000 roubles a minute: anything above is a typing slip
MAX_PRICE_KOP = 100_000_000  # a million roubles (and within a 32-bit column)
DISCOUNT_RE = re.compile(r"^\s*(\d+)\s*[:=]\s*(\d+)\s*%?\s*$")


def in_effect(tariff: Tariff, now: dt.datetime | None = None) -> bool:
    return tariff.effective_from is not None and tariff.effective_from <= (now or utcnow())


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class DiscountsField(StringField):
    """Rent discounts typed as `3: 5, 6: 10, 12: 20` (months: percent off); stored as {"3": 5, ...}."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        items = sorted((int(months), percent) for months, percent in (self.data or {}).items())
        return ", ".join(f"{months}: {percent}" for months, percent in items)

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "") or ""
        self.data, self._problems = {}, []
        for part in filter(None, (p.strip() for p in re.split(r"[,;\n]", text))):
            match = DISCOUNT_RE.match(part)
            if not match:
                self._problems.append(_l("“%(part)s” is not “months: percent”.", part=part))
                continue
            months, percent = int(match.group(1)), int(match.group(2))
            if not 1 <= months <= 12:
                self._problems.append(_l("Months must be from 1 to 12 (got %(months)s).", months=months))
            elif not 0 <= percent <= MAX_DISCOUNT_PERCENT:
                self._problems.append(_l("A discount must be from 0 to %(max)s percent (got %(percent)s).",
                                         max=MAX_DISCOUNT_PERCENT, percent=percent))
            elif str(months) in self.data:
                self._problems.append(_l("%(months)s months are listed twice.", months=months))
            else:
                self.data[str(months)] = percent

    def pre_validate(self, form):
        for problem in getattr(self, "_problems", []):
            raise ValidationError(str(problem))


def _two_places(form, field) -> None:
    if field.data is None:
        return
    if field.data < 0:
        raise ValidationError(_("Must not be negative."))
    if field.data > MAX_RATE_KOP:
        raise ValidationError(_("At most %(max)s kopecks per minute.", max=MAX_RATE_KOP))
    if field.data != field.data.quantize(decimal.Decimal("0.01")):
        raise ValidationError(_("At most two decimal places (hundredths of a kopeck)."))


def _country(form, field) -> None:
    code = (field.data or "").strip().upper()
    if code != ANY_COUNTRY and code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(_("A two-letter ISO country code (RU, KZ, ...) or “*” for any other country."))
    field.data = code


class RateDecimalField(DecimalField):
    """Kopecks per minute with up to two decimal places; the value is kept as typed, never rounded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, places=None, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str):
            valuelist = [valuelist[0].strip().replace(",", ".").replace("\xa0", "").replace(" ", "")]
        super().process_formdata(valuelist)
        if isinstance(self.data, decimal.Decimal) and not self.data.is_finite():
            self.data = None
            raise ValueError(self.gettext("Not a valid decimal value."))


NON_NEGATIVE = [InputRequired(), NumberRange(min=0, max=MAX_PRICE_KOP)]
RATE_FORM_ARGS = {
    "country": {"label": _l("Country"), "validators": [InputRequired(), _country],
                "description": _l("ISO code (RU, KZ, ...) or * for any other country")},
    "number_class": {"label": _l("Number"), "choices": NUMBER_CLASSES},
    "leg": {"label": _l("Leg"), "choices": LEGS},
    "retail_kop_per_min": {"label": _l("Price, kopecks per minute"), "validators": [InputRequired(), _two_places]},
    "cost_kop_per_min": {"label": _l("MTT's cost, kopecks per minute"), "validators": [InputRequired(), _two_places]},
}


def _rates(view, context, model: Tariff, name) -> Markup:
    return Markup("<br>").join(
        f"{rate.country} {rate.number_class} {rate.leg}: {rate.retail_kop_per_min} / {rate.cost_kop_per_min}"
        for rate in model.rates)


def _status(view, context, model: Tariff, name) -> str:
    if not in_effect(model):
        return _("Scheduled")
    newer = db.session.scalar(sa.select(sa.func.count()).select_from(Tariff).where(
        Tariff.effective_from > model.effective_from, Tariff.effective_from <= utcnow()))
    return _("Replaced") if newer else _("In force")


COLUMN_LABELS = {"name": _l("Name"), "effective_from": _l("Takes effect (UTC)"),
                 "rent_month_kop": _l("Rent per month"), "rent_discounts": _l("Rent discounts"),
                 "free_threshold_s": _l("Free threshold, seconds"), "sms_retail_kop": _l("SMS price"),
                 "sms_cost_kop": _l("MTT's SMS cost"), "created_at": _l("Created"), "rates": _l("Per-minute rates"),
                 "status": _l("Status")}
COLUMN_FORMATTERS = {"rent_month_kop": lambda v, c, m, n: money(m.rent_month_kop),
                     "sms_retail_kop": lambda v, c, m, n: money(m.sms_retail_kop),
                     "sms_cost_kop": lambda v, c, m, n: money(m.sms_cost_kop),
                     "rent_discounts": lambda v, c, m, n: DiscountsField.__dict__["_value"](
                         types.SimpleNamespace(raw_data=None, data=m.rent_discounts)),
                     "rates": _rates, "status": _status}


class TariffView(SecureModelView):
    """The administrator's view: new versions with their rates inline; versions in effect stay as they were."""

    permission_key = "backoffice.tariffs"
    column_list = ["name", "effective_from", "status", "rent_month_kop", "rent_discounts", "free_threshold_s",
                   "sms_retail_kop"]
    column_details_list = ["name", "effective_from", "status", "rent_month_kop", "rent_discounts",
                           "free_threshold_s", "sms_retail_kop", "sms_cost_kop", "rates", "created_at"]
    column_default_sort = ("effective_from", True)
    column_searchable_list = ["name"]
    column_filters = ["effective_from"]
    column_labels = COLUMN_LABELS
    column_formatters = COLUMN_FORMATTERS
    column_formatters_export = {"rent_discounts": lambda v, c, m, n: COLUMN_FORMATTERS["rent_discounts"](v, c, m, n),
                                "status": _status}
    can_export = True
    form_columns = ["name", "effective_from", "rent_month_kop", "rent_discounts", "free_threshold_s",
                    "sms_retail_kop", "sms_cost_kop", "rates"]
    form_overrides = {"rent_discounts": DiscountsField, "rent_month_kop": IntegerField,
                      "free_threshold_s": IntegerField, "sms_retail_kop": IntegerField, "sms_cost_kop": IntegerField}
    form_args = {
        "name": {"label": _l("Name"), "validators": [InputRequired()]},
        "effective_from": {"label": _l("Takes effect (UTC)"), "validators": [InputRequired()],
                           "description": _l("Now or later; once in effect the version can no longer be changed")},
        "rent_month_kop": {"label": _l("Rent per month, kopecks"), "validators": NON_NEGATIVE},
        "rent_discounts": {"label": _l("Rent discounts"),
                           "description": _l("Months: percent off when buying at least that many months, "
                                             "e.g. 3: 5, 6: 10, 12: 20")},
        "free_threshold_s": {"label": _l("Free threshold, seconds"), "validators": [InputRequired(),
                                                                                    NumberRange(min=0, max=60)],
                             "description": _l("Calls shorter than this are not charged")},
        "sms_retail_kop": {"label": _l("SMS price, kopecks"), "validators": NON_NEGATIVE},
        "sms_cost_kop": {"label": _l("MTT's SMS cost, kopecks"), "validators": NON_NEGATIVE},
    }
    inline_models = [(TariffRate, {
        "form_columns": ["id", "country", "number_class", "leg", "retail_kop_per_min", "cost_kop_per_min"],
        "form_overrides": {"number_class": SelectField, "leg": SelectField,
                           "retail_kop_per_min": RateDecimalField, "cost_kop_per_min": RateDecimalField},
        "form_args": RATE_FORM_ARGS,
        "form_label": _l("Per-minute rate"),
    })]

    def create_form(self, obj=None):
        """A new version starts as a copy of the latest one (its prices and rates), to be changed where needed."""
        if obj is None and request.method == "GET":
            obj = _template()
        return super().create_form(obj)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form._tariff = obj
        if obj is not None and request.method == "GET" and in_effect(obj):
            flash(_("This version is in effect since %(when)s: it cannot be changed. Create a new version to "
                    "replace it.", when=f"{obj.effective_from:%Y-%m-%d %H:%M} UTC"), "info")
        return form

    def validate_form(self, form) -> bool:
        is_valid = super().validate_form(form)
        if not form.is_submitted() or not hasattr(form, "effective_from"):
            return is_valid
        existing = getattr(form, "_tariff", None)
        if existing is not None and in_effect(existing):
            flash(_refusal(existing), "error")
            return False
        when = form.effective_from.data
        if when is not None and _aware(when) < utcnow() - dt.timedelta(minutes=1):
            form.effective_from.errors = [*form.effective_from.errors,
                                          _("A new version takes effect now or later, not in the past.")]
            is_valid = False
        seen = set()
        for entry in form.rates.entries:
            if form.rates.should_delete(entry):
                continue
            sub = entry.form
            key = ((sub.country.data or "").strip().upper(), sub.number_class.data, sub.leg.data)
            if key in seen:
                sub.country.errors = [*sub.country.errors,
                                      _("There is already a rate for this country, number and leg.")]
                is_valid = False
            seen.add(key)
        return is_valid

    def on_model_change(self, form, model: Tariff, is_created: bool):
        # The form checked this already; the model is checked again with the value it had before the form.
        history = inspect(model).attrs.effective_from.history
        before = history.deleted[0] if history.deleted else model.effective_from
        if not is_created and before is not None and before <= utcnow():
            raise ValidationError(_refusal(model))
        if model.effective_from is None or _aware(model.effective_from) < utcnow() - dt.timedelta(minutes=1):
            raise ValidationError(_("A new version takes effect now or later, not in the past."))

    def delete_model(self, model: Tariff) -> bool:
        if in_effect(model):
            flash(_("This version is in effect since %(when)s: charges refer to it, so it cannot be deleted.",
                    when=f"{model.effective_from:%Y-%m-%d %H:%M} UTC"), "error")
            return False
        return super().delete_model(model)


def _refusal(model: Tariff) -> str:
    return _("This version is in effect since %(when)s: it cannot be changed. Create a new version to replace it.",
             when=f"{model.effective_from:%Y-%m-%d %H:%M} UTC")


def _template():
    """The latest version's values as a new version's starting point (a plain object: nothing joins the session)."""
    latest = db.session.scalar(sa.select(Tariff).order_by(Tariff.effective_from.desc()).limit(1))
    if latest is None:
        return None
    rates = [types.SimpleNamespace(id=None, country=r.country, number_class=r.number_class, leg=r.leg,
                                   retail_kop_per_min=r.retail_kop_per_min, cost_kop_per_min=r.cost_kop_per_min)
             for r in latest.rates]
    return types.SimpleNamespace(name=latest.name, effective_from=None, rent_month_kop=latest.rent_month_kop,
                                 rent_discounts=dict(latest.rent_discounts or {}),
                                 free_threshold_s=latest.free_threshold_s, sms_retail_kop=latest.sms_retail_kop,
                                 sms_cost_kop=latest.sms_cost_kop, rates=rates)


class TariffReadView(SecureModelView):
    """The same versions, read only, for managers (who quote prices); administrators use the view above."""

    permission_key = "backoffice.accounts"
    can_create = False
    can_edit = False
    can_delete = False
    column_list = TariffView.column_list
    column_details_list = TariffView.column_details_list
    column_default_sort = ("effective_from", True)
    column_labels = COLUMN_LABELS
    column_formatters = COLUMN_FORMATTERS

    def is_visible(self) -> bool:
        from app.permissions import feature_permission

        return not feature_permission(TariffView.permission_key).can()


def register(admin) -> None:
    category = _l("Billing")
    admin.add_view(TariffView(Tariff, name=_l("Tariffs"), endpoint="tariffs", category=category))
    admin.add_view(TariffReadView(Tariff, name=_l("Tariffs"), endpoint="tariff_versions", url="tariff-versions",
                                  category=category))
