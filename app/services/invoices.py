"""Bank-transfer invoices for organisations (B8): company details, issuing, marking paid, the printed invoice.

An invoice copies the payer's and the supplier's requisites when it is issued, so later edits of either never
change an issued document. Its number is `CB-<year>-<id, 6 digits>`: the id is unique and handed out by the
database, so concurrent issues never collide and need no counter of their own. Marking it paid credits the
client once, by the ledger key `invoice:<id>`; the row is locked first (PostgreSQL) and the key is unique, so
two administrators marking it at once credit it once. The document is in Russian whatever the interface
language: it is a Russian accounting document. Flushes, never commits.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, render_template
from flask_babel import lazy_gettext as _l

from app.db import utcnow
from app.extensions import db
from app.models import Account, CompanyDetails, Invoice
from app.services import DomainError, ledger, notify_events, rent, requisites
from app.services.settings import get_settings

KIND = "invoice"
BANK = "system:bank"  # where bank transfers arrive
MIN_KOP, MAX_KOP = 100_000, 1_000_000_000  # 1 000 ₽ … 10 000 000 ₽
NUMBER_PREFIX = "CB"
DOCUMENT_ZONE = ZoneInfo("Europe/Moscow")  # the date printed on the invoice is the supplier's date
FONT_DIR = "/usr/share/fonts/truetype/dejavu"  # Debian's fonts-dejavu-core (scripts/install-system-deps)
TEMPLATE = "invoice/invoice.html"
COMPANY_FIELDS = ("name", "inn", "kpp", "ogrn", "address", "bank_name", "bik", "correspondent_account",
                  "settlement_account")
ISSUED, PAID, CANCELED = "issued", "paid", "canceled"


class InvoiceError(DomainError):
    """`code` says what went wrong; `fields` maps a form field to its message (company details)."""

    code = "invoice_error"

    def __init__(self, message: str, code: str | None = None, fields: dict[str, str] | None = None):
        super().__init__(message, code)
        self.fields = fields or {}


def save_company_details(account_id: int, **fields: Any) -> CompanyDetails:
    """Check every requisite (checksums included) and store them as the account's payer details."""
    cleaned, errors = requisites.check_company(fields)
    if errors:
        raise InvoiceError(str(_l("Some company details are not valid.")), "invalid_company_details", errors)
    details = db.session.get(CompanyDetails, account_id)
    if details is None:
        details = CompanyDetails(account_id=account_id)
        db.session.add(details)
    for name in COMPANY_FIELDS:
        setattr(details, name, cleaned.get(name))
    db.session.flush()
    return details


def company_details(account_id: int) -> CompanyDetails | None:
    return db.session.get(CompanyDetails, account_id)


def issue(account_id: int, amount_kop: int, now: dt.datetime | None = None) -> Invoice:
    """A new invoice for `amount_kop` with the account's company details and the current supplier's.

    The number comes from the id, so the row is inserted with a placeholder number and renamed in the same
    transaction. Who asked is recorded by the audit log, which sees the request's user.
    """
    if type(amount_kop) is not int or not MIN_KOP <= amount_kop <= MAX_KOP:
        raise InvoiceError(str(_l("An invoice is issued for %(low)s to %(high)s roubles.",
                                  low=f"{MIN_KOP // 100:,}".replace(",", " "),
                                  high=f"{MAX_KOP // 100:,}".replace(",", " "))), "invalid_amount")
    details = company_details(account_id)
    if details is None:
        raise InvoiceError(str(_l("Fill in the company details first.")), "no_company_details")
    account = db.session.get(Account, account_id)
    settings = get_settings()
    now = now or utcnow()
    payer = {name: getattr(details, name) for name in COMPANY_FIELDS}
    payer["client_code"] = account.client_code
    invoice = Invoice(number=f"new-{uuid.uuid4().hex[:24]}", account_id=account_id, amount_kop=amount_kop,
                      payer=payer, supplier=settings.invoice_supplier.model_dump(mode="json"), status=ISSUED,
                      issued_at=now, due_at=now + dt.timedelta(days=settings.invoice_valid_days))
    db.session.add(invoice)
    db.session.flush()
    invoice.number = f"{NUMBER_PREFIX}-{now.astimezone(DOCUMENT_ZONE).year}-{invoice.id:06d}"
    db.session.flush()
    notify_events.invoice_issued(invoice)
    return invoice


def _locked(invoice_id: int) -> Invoice:
    """The invoice, its row locked until the transaction ends (PostgreSQL; SQLite serialises writers)."""
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.id == invoice_id).with_for_update()
                                .execution_options(populate_existing=True))
    if invoice is None:
        raise InvoiceError(str(_l("No such invoice.")), "unknown_invoice")
    return invoice


def mark_paid(invoice_id: int, user_id: int | None, paid_at: dt.datetime | None = None) -> Invoice:
    """Credit the client with the invoice's amount, once; marking a paid invoice again changes nothing."""
    invoice = _locked(invoice_id)
    if invoice.status == PAID:
        return invoice
    if invoice.status != ISSUED:
        raise InvoiceError(str(_l("A canceled invoice cannot be paid.")), "invalid_state")
    amount = invoice.amount_kop
    rent.credit_and_resume(invoice.account_id, lambda: ledger.post(
        f"{KIND}:{invoice.id}", KIND,
        [(ledger.client_account(invoice.account_id), amount), (ledger.system_account(BANK), -amount)],
        memo=f"Счёт № {invoice.number}"))
    invoice.status, invoice.paid_at, invoice.paid_by_id = PAID, paid_at or utcnow(), user_id
    db.session.flush()
    notify_events.invoice_paid(invoice)
    return invoice


def cancel(invoice_id: int) -> Invoice:
    """Withdraw an unpaid invoice; canceling it again changes nothing, a paid one cannot be canceled."""
    invoice = _locked(invoice_id)
    if invoice.status == PAID:
        raise InvoiceError(str(_l("A paid invoice cannot be canceled.")), "invalid_state")
    invoice.status = CANCELED
    db.session.flush()
    return invoice


# ---------------------------------------------------------------------------------------------------------------
# The printed invoice
# ---------------------------------------------------------------------------------------------------------------

def render_html(invoice: Invoice) -> str:
    """The invoice as a web page (the same template as the PDF)."""
    return _render(invoice, font_dir=None)


def render_pdf(invoice: Invoice) -> bytes:
    """The invoice as a PDF (WeasyPrint) with DejaVu Sans embedded, so Cyrillic never depends on fontconfig."""
    from weasyprint import HTML

    return HTML(string=_render(invoice, font_dir=FONT_DIR)).write_pdf()


def pdf_response(invoice: Invoice) -> Response:
    """The PDF as a download named after the invoice (for the cabinet and the back office alike)."""
    return Response(render_pdf(invoice), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="invoice-{invoice.number}.pdf"'})


def _render(invoice: Invoice, font_dir: str | None) -> str:
    supplier = invoice.supplier
    vat_percent = int(supplier.get("vat_percent") or 0)
    return render_template(TEMPLATE, invoice=invoice, payer=invoice.payer, supplier=supplier,
                           date=document_date(invoice.issued_at), due=document_date(invoice.due_at),
                           amount=rub(invoice.amount_kop), vat_percent=vat_percent,
                           vat=rub(vat_of(invoice.amount_kop, vat_percent)) if vat_percent else None,
                           words=amount_in_words(invoice.amount_kop), purpose=payment_purpose(invoice),
                           font_dir=font_dir)


def document_date(moment: dt.datetime) -> str:
    return moment.astimezone(DOCUMENT_ZONE).strftime("%d.%m.%Y")


def rub(kop: int) -> str:
    """1234567 → "12 345,67" (a no-break space between thousands, as Russian documents print them)."""
    return f"{kop // 100:,}".replace(",", "\u00a0") + f",{kop % 100:02d}"


def vat_of(amount_kop: int, percent: int) -> int:
    """The VAT included in a gross amount, rounded half up to a kopeck: amount × rate / (100 + rate)."""
    return (amount_kop * percent * 2 + 100 + percent) // (2 * (100 + percent))


def payment_purpose(invoice: Invoice) -> str:
    """What the payer writes in the bank order's purpose: the number lets the accountant match the payment."""
    percent = int(invoice.supplier.get("vat_percent") or 0)
    vat = (f"В т.ч. НДС {percent}% — {rub(vat_of(invoice.amount_kop, percent))} руб." if percent
           else "Без НДС.")
    return (f"Оплата по счёту № {invoice.number} от {document_date(invoice.issued_at)} за услуги сервиса "
            f"CallBack, аккаунт {invoice.payer.get('client_code', '')}. {vat}")


# ---------------------------------------------------------------------------------------------------------------
# Amounts in words (сумма прописью)
# ---------------------------------------------------------------------------------------------------------------

_ONES = ("", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять")
_ONES_FEMININE = ("", "одна", "две", *_ONES[3:])
_TEENS = ("десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать",
          "семнадцать", "восемнадцать", "девятнадцать")
_TENS = ("", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят",
         "девяносто")
_HUNDREDS = ("", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот",
             "девятьсот")
# (forms for 1, 2–4, 5+; feminine?) of each power of a thousand, from the largest.
_SCALES = ((("миллиард", "миллиарда", "миллиардов"), False), (("миллион", "миллиона", "миллионов"), False),
           (("тысяча", "тысячи", "тысяч"), True))
ROUBLES = ("рубль", "рубля", "рублей")
KOPECKS = ("копейка", "копейки", "копеек")


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """The Russian form of a noun after the number n: 1 рубль, 2 рубля, 5 рублей, 11 рублей, 21 рубль."""
    if 11 <= n % 100 <= 14:
        return forms[2]
    return forms[0] if n % 10 == 1 else forms[1] if 2 <= n % 10 <= 4 else forms[2]


def _triple(n: int, feminine: bool) -> list[str]:
    words = [_HUNDREDS[n // 100]]
    tens, ones = n // 10 % 10, n % 10
    if tens == 1:
        words.append(_TEENS[ones])
    else:
        words += [_TENS[tens], (_ONES_FEMININE if feminine else _ONES)[ones]]
    return [word for word in words if word]


def number_in_words(n: int) -> str:
    """A whole number below a trillion in Russian words, in the masculine (as for roubles)."""
    if n == 0:
        return "ноль"
    words: list[str] = []
    for power, (forms, feminine) in zip((10**9, 10**6, 10**3), _SCALES, strict=True):
        part = n // power % 1000
        if part:
            words += [*_triple(part, feminine), plural(part, forms)]
    return " ".join(words + _triple(n % 1000, feminine=False))


def amount_in_words(kop: int) -> str:
    """"Одна тысяча двести рублей 05 копеек": roubles in words, kopecks in digits, as invoices print them."""
    roubles, kopecks = divmod(kop, 100)
    text = f"{number_in_words(roubles)} {plural(roubles, ROUBLES)} {kopecks:02d} {plural(kopecks, KOPECKS)}"
    return text[0].upper() + text[1:]
