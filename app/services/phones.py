"""Visitors' phone numbers with libphonenumber: parsing to E.164, typing templates for the widget, regions."""
from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, geocoder

from app.services import DomainError

MAX_INPUT_LENGTH = 40


class InvalidPhone(DomainError):
    code = "invalid_phone"


def parse(raw: str, country: str) -> phonenumbers.PhoneNumber:
    """The valid number `raw` names, read as dialled from `country`; raises InvalidPhone otherwise."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT_LENGTH:
        raise InvalidPhone("not a phone number")
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    return number


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def display(e164_number: str) -> str:
    """A stored E.164 number written for people (+7 999 555-00-00); as stored when it cannot be read."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164_number, None), PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164_number


def region_of(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.region_code_for_number(number) or ""


def place_of(number: phonenumbers.PhoneNumber, language: str) -> str:
    """Where the number is registered (a city or region for fixed lines, often the country for mobiles)."""
    return geocoder.description_for_number(number, language) or ""


@functools.cache
def template(region: str) -> str:
    """How a mobile number of `region` is written after its calling code, digits as '#': '### ###-##-##' for RU."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE) or \
        phonenumbers.example_number(region)
    if example is None:
        return "#" * 10
    written = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
    national = written.split(" ", 1)[1] if " " in written else written.lstrip("+")
    return "".join("#" if ch.isdigit() else ch for ch in national)
