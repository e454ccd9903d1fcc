"""Checks of Russian company requisites (B8): ИНН, КПП, ОГРН/ОГРНИП, БИК and bank accounts.

Checksums of ИНН and ОГРН come from python-stdnum; the bank-account key is the Central Bank's (Order 515 of
1997: digits weighted 7, 1, 3 over a prefix taken from the БИК, sum divisible by 10). All-zero values pass
those checksums, so they are refused first. Each check returns the cleaned value or raises `RequisiteError`,
a `ValueError` (so pydantic validators can call the same checks) that names the field it is about.
"""
from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn as stdnum_inn
from stdnum.ru import ogrn as stdnum_ogrn

KPP_RE = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$")
COMPANY_INN, PROPRIETOR_INN = 10, 12
COMPANY_OGRN, PROPRIETOR_OGRN = 13, 15
ACCOUNT_DIGITS = 20
CORRESPONDENT_PREFIX = "30101"
ACCOUNT_WEIGHTS = (7, 1, 3)


class RequisiteError(ValueError):
    """A requisite failed its check; `field` names it, the message (translated when shown) says why."""

    def __init__(self, field: str, message: Any):
        super().__init__(field, message)
        self.field, self.message = field, message

    def __str__(self) -> str:
        return str(self.message)


def digits(value: str | None) -> str:
    """The value as typed, without the spaces people paste into long numbers."""
    return re.sub(r"[\s\u00a0\u202f-]", "", value or "")


def _digits_of(field: str, value: str | None, label: Any, lengths: tuple[int, ...]) -> str:
    cleaned = digits(value)
    if not cleaned.isdigit() or len(cleaned) not in lengths:
        counts = " / ".join(str(n) for n in lengths)
        raise RequisiteError(field, _l("%(field)s must be %(count)s digits.", field=label, count=counts))
    if set(cleaned) == {"0"}:
        raise RequisiteError(field, _l("%(field)s cannot be all zeros.", field=label))
    return cleaned


def check_inn(value: str | None, field: str = "inn") -> str:
    """A 10-digit ИНН of a company or a 12-digit one of a sole proprietor, with its check digits."""
    cleaned = _digits_of(field, value, _l("INN"), (COMPANY_INN, PROPRIETOR_INN))
    try:
        stdnum_inn.validate(cleaned)
    except StdnumError:
        raise RequisiteError(field, _l("INN: the check digit does not match; check the number.")) from None
    return cleaned


def is_proprietor(inn: str) -> bool:
    return len(inn) == PROPRIETOR_INN


def check_kpp(value: str | None, inn: str | None, field: str = "kpp") -> str | None:
    """A company's КПП (format only: it has no checksum); a sole proprietor (12-digit ИНН) has none."""
    cleaned = digits(value).upper()
    if inn is not None and is_proprietor(inn):
        if cleaned:
            raise RequisiteError(field, _l("KPP: a sole proprietor (12-digit INN) has no KPP; leave it empty."))
        return None
    if not cleaned:
        raise RequisiteError(field, _l("KPP is required for a company (10-digit INN)."))
    if not KPP_RE.match(cleaned) or set(cleaned) == {"0"}:
        raise RequisiteError(field, _l("KPP must be 9 characters: 4 digits, 2 digits or capital letters, 3 digits."))
    return cleaned


def check_ogrn(value: str | None, inn: str | None, field: str = "ogrn") -> str:
    """ОГРН (13 digits) of a company or ОГРНИП (15 digits) of a sole proprietor, matched to the ИНН's kind."""
    if inn is None:
        lengths: tuple[int, ...] = (COMPANY_OGRN, PROPRIETOR_OGRN)
    else:
        lengths = (PROPRIETOR_OGRN,) if is_proprietor(inn) else (COMPANY_OGRN,)
    label = _l("OGRNIP") if lengths == (PROPRIETOR_OGRN,) else _l("OGRN")
    cleaned = _digits_of(field, value, label, lengths)
    try:
        stdnum_ogrn.validate(cleaned)
    except StdnumError:
        raise RequisiteError(field, _l("%(field)s: the check digit does not match; check the number.",
                                       field=label)) from None
    return cleaned


def check_bik(value: str | None, field: str = "bik") -> str:
    """A Russian bank's БИК: 9 digits starting with 04 (it has no checksum)."""
    cleaned = _digits_of(field, value, _l("BIK"), (9,))
    if not cleaned.startswith("04"):
        raise RequisiteError(field, _l("BIK of a Russian bank starts with 04."))
    return cleaned


def account_key_ok(account: str, bik: str, correspondent: bool) -> bool:
    """The Central Bank's control key: the БИК part and the account, weighted 7, 1, 3, … sum to a multiple of 10."""
    prefix = "0" + bik[4:6] if correspondent else bik[6:9]
    return sum(int(d) * ACCOUNT_WEIGHTS[i % 3] for i, d in enumerate(prefix + account)) % 10 == 0


def check_correspondent_account(value: str | None, bik: str | None, field: str = "correspondent_account") -> str:
    """The bank's correspondent account at the Central Bank: 20 digits, 30101…, its key matching the БИК."""
    cleaned = _digits_of(field, value, _l("Correspondent account"), (ACCOUNT_DIGITS,))
    if not cleaned.startswith(CORRESPONDENT_PREFIX):
        raise RequisiteError(field, _l("Correspondent account starts with 30101."))
    if bik is not None and not account_key_ok(cleaned, bik, correspondent=True):
        raise RequisiteError(field, _l("Correspondent account does not match the BIK; check both."))
    return cleaned


def check_settlement_account(value: str | None, bik: str | None, field: str = "settlement_account") -> str:
    """The settlement account (р/с): 20 digits, its control key matching the bank's БИК."""
    cleaned = _digits_of(field, value, _l("Settlement account"), (ACCOUNT_DIGITS,))
    if bik is not None and not account_key_ok(cleaned, bik, correspondent=False):
        raise RequisiteError(field, _l("Settlement account does not match the BIK; check both."))
    return cleaned


def check_text(value: str | None, field: str, label: Any, longest: int) -> str:
    """A name or an address: required, spaces collapsed, at most `longest` characters."""
    cleaned = " ".join((value or "").split())
    if not cleaned:
        raise RequisiteError(field, _l("%(field)s is required.", field=label))
    if len(cleaned) > longest:
        raise RequisiteError(field, _l("%(field)s is too long (at most %(count)d characters).", field=label,
                                       count=longest))
    return cleaned


def check_company(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every requisite of a payer at once: (the cleaned values, {field: message} for each one that failed).

    The КПП and the accounts are checked only when the ИНН and БИК they depend on passed, so one typo in the
    ИНН or БИК gives one message, not three; the ОГРН is then checked on its own (13 or 15 digits).
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def run(name: str, check, *args) -> Any:
        try:
            cleaned[name] = check(fields.get(name), *args)
        except RequisiteError as exc:
            errors[exc.field] = str(exc)
        return cleaned.get(name)

    run("name", lambda v: check_text(v, "name", _l("Name"), 250))
    inn = run("inn", check_inn)
    if inn is not None:
        run("kpp", check_kpp, inn)
    run("ogrn", check_ogrn, inn)
    run("address", lambda v: check_text(v, "address", _l("Address"), 500))
    run("bank_name", lambda v: check_text(v, "bank_name", _l("Bank"), 250))
    bik = run("bik", check_bik)
    if bik is not None:
        run("correspondent_account", check_correspondent_account, bik)
        run("settlement_account", check_settlement_account, bik)
    return cleaned, errors
