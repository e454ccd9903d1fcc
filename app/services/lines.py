"""Manager lines (D1): normalised numbers, at most 15 per account, departments and sites of the same account;
SIP addresses and extensions only where the telephony provider honours them."""
from __future__ import annotations

import re

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import ManagerLine
from app.services import DomainError, telephony

MAX_LINES_PER_ACCOUNT = 15
SIP_URI = re.compile(r"^(sips?:)?[\w.+\-]+@[\w.\-]+(:\d{1,5})?$")


class LineError(DomainError):
    code = "invalid_line"

    def __init__(self, message, field: str):
        super().__init__(message)
        self.field = field


def check_line(line: ManagerLine) -> None:
    """Normalise and check a line before it is stored; raises LineError naming the field at fault."""
    account_id = line.account.id if line.account is not None else line.account_id  # a form sets the relation
    line.number = _normalised_number(line)
    line.extension = (line.extension or "").strip()
    if line.extension and not line.extension.isdigit():
        raise LineError(_l("The extension has digits only."), "extension")
    if refused := telephony.line_refusal(line.kind, line.extension):
        raise LineError(refused[1], refused[0])
    if line.department is not None and line.department.account_id != account_id:
        raise LineError(_l("The department belongs to another account."), "department")
    if any(site.account_id != account_id for site in line.sites):
        raise LineError(_l("A site of another account was chosen."), "sites")
    others = sa.select(sa.func.count()).select_from(ManagerLine).where(ManagerLine.account_id == account_id)
    if line.id is not None:
        others = others.where(ManagerLine.id != line.id)
    with db.session.no_autoflush:  # the back office adds the new line to the session first: not yet one of them
        count = db.session.scalar(others)
    if count >= MAX_LINES_PER_ACCOUNT:
        raise LineError(_l("An account has at most %(n)d manager numbers.", n=MAX_LINES_PER_ACCOUNT), "number")


def _normalised_number(line: ManagerLine) -> str:
    raw = (line.number or "").strip()
    if line.kind == "sip":
        if not SIP_URI.match(raw):
            raise LineError(_l("Enter a SIP address like manager@pbx.example.com."), "number")
        return raw if raw.startswith("sip") else f"sip:{raw}"
    try:
        number = phonenumbers.parse(raw, (line.country or "RU").upper())
    except phonenumbers.NumberParseException as exc:
        raise LineError(_l("This is not a phone number."), "number") from exc
    if not phonenumbers.is_valid_number(number):
        raise LineError(_l("This phone number is not valid for the chosen country."), "number")
    line.country = phonenumbers.region_code_for_number(number) or line.country
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
