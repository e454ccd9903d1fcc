"""The printed invoice (B8): amounts in words, the HTML page and the PDF from the same template."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from invoice_helpers import COMPANY
from pypdf import PdfReader

from app.services import invoices
from app.services.settings import get_settings, set_setting

NOW = dt.datetime(2026, 3, 10, 21, 30, tzinfo=dt.UTC)  # 11 March in Moscow


@pytest.mark.parametrize("kop, words", [
    (0, "Ноль рублей 00 копеек"),
    (101, "Один рубль 01 копейка"),
    (202, "Два рубля 02 копейки"),
    (1105, "Одиннадцать рублей 05 копеек"),
    (2121, "Двадцать один рубль 21 копейка"),
    (100_000, "Одна тысяча рублей 00 копеек"),
    (123_456, "Одна тысяча двести тридцать четыре рубля 56 копеек"),
    (200_000_000, "Два миллиона рублей 00 копеек"),
    (1_000_000_000, "Десять миллионов рублей 00 копеек"),
    (1_412_019_099, "Четырнадцать миллионов сто двадцать тысяч сто девяносто рублей 99 копеек"),
    (221_100_000_000, "Два миллиарда двести одиннадцать миллионов рублей 00 копеек"),
    (51_451_200, "Пятьсот четырнадцать тысяч пятьсот двенадцать рублей 00 копеек"),
])
def test_amounts_in_words(kop, words):
    assert invoices.amount_in_words(kop) == words


@pytest.mark.parametrize("kop, percent, vat", [(12_200, 22, 2_200), (100, 20, 17), (1_234_567, 22, 222_627),
                                               (61, 22, 11)])
def test_the_vat_included_is_rounded_to_a_kopeck(kop, percent, vat):
    assert invoices.vat_of(kop, percent) == vat


@pytest.fixture
def invoice(app, payer):
    with app.test_request_context():
        invoice = invoices.issue(payer, 1_234_550, now=NOW)
        yield invoice


def test_the_html_has_both_parties_the_bank_block_the_totals_and_the_purpose(invoice):
    html = invoices.render_html(invoice)
    supplier = get_settings().invoice_supplier
    assert f"Счёт на оплату № {invoice.number} от 11.03.2026" in html
    for value in (supplier.name, supplier.bik,
                  supplier.correspondent_account, supplier.settlement_account, supplier.inn, supplier.kpp,
                  COMPANY["inn"], COMPANY["kpp"], COMPANY["ogrn"], COMPANY["address"], "Банк получателя",
                  "Получатель", "Поставщик", "Покупатель", "Основание:", "Публичная оферта", "Итого:",
                  "Всего к оплате:", "12\u00a0345,50", "Без НДС", f"аккаунт {invoice.payer['client_code']}",
                  "Двенадцать тысяч триста сорок пять рублей 50 копеек", "Счёт действителен до 16.03.2026"):
        assert value in html, value
    assert f"Оплата по счёту № {invoice.number} от 11.03.2026" in html
    assert "file://" not in html  # the web page does not point the browser at the server's fonts


def test_a_vat_rate_prints_the_vat_included(app, payer):
    with app.test_request_context():
        set_setting("invoice_supplier", {**get_settings().invoice_supplier.model_dump(), "vat_percent": 22})
        html = invoices.render_html(invoices.issue(payer, 122_000))
    assert "В том числе НДС 22%:" in html and "220,00" in html and "В т.ч. НДС 22% — 220,00 руб." in html
    assert "Без НДС" not in html


def test_a_canceled_invoice_says_so(app, invoice):
    with app.test_request_context():
        assert "Счёт аннулирован" in invoices.render_html(invoices.cancel(invoice.id))


def _fonts(reader: PdfReader) -> dict[str, set[str]]:
    """{base font name: the embedded font-file keys of its descriptors} over every page."""
    found: dict[str, set[str]] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptors = [font.get("/FontDescriptor")] + [
                d.get_object().get("/FontDescriptor") for d in font.get("/DescendantFonts", [])]
            keys = {key for d in descriptors if d is not None for key in d.get_object()
                    if key in ("/FontFile", "/FontFile2", "/FontFile3")}
            found.setdefault(str(font["/BaseFont"]), set()).update(keys)
    return found


def test_the_pdf_embeds_dejavu_and_its_text_extracts_in_cyrillic(invoice):
    pdf = invoices.render_pdf(invoice)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages).replace("\u00a0", " ")
    assert "Счёт на оплату" in text and invoice.number in text
    assert "Двенадцать тысяч триста сорок пять рублей 50 копеек" in text
    assert "12 345,50" in text and "Всего к оплате" in text
    fonts = _fonts(reader)
    # Every font is the template's @font-face (DejaVu Sans from its file, named after the face), embedded.
    assert fonts and all("Invoice-Sans" in name and keys for name, keys in fonts.items()), fonts
