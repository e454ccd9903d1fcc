"""Checks of Russian requisites (B8) with the official test vectors and broken variants of them; the messages
as people read them (Russian, the default language)."""
from __future__ import annotations

import pytest

from app.services import requisites
from app.services.requisites import RequisiteError

# Official and real vectors (reference/yookassa.md §10): Sberbank's ИНН and ОГРН, an ИП's ИНН and ОГРНИП, the
# Central Bank's example accounts with their БИК.
COMPANY_INN, PROPRIETOR_INN = "7707083893", "500100732259"
COMPANY_OGRN, PROPRIETOR_OGRN = "1027700132195", "304500116000157"
CORR, CORR_BIK = "30101810800000000746", "049805000"
SETTLEMENT, SETTLEMENT_BIK = "40602810700000000025", "049805746"


@pytest.mark.parametrize("value", [COMPANY_INN, PROPRIETOR_INN, " 7707 083 893 "])
def test_valid_inns_pass_cleaned(value):
    assert requisites.check_inn(value) == value.replace(" ", "")


CHECK_DIGIT = "контрольная цифра не сходится"


@pytest.mark.parametrize("value, fragment", [
    ("7707083894", CHECK_DIGIT), ("500100732258", CHECK_DIGIT), ("500100732269", CHECK_DIGIT),
    ("770708389", "10 / 12 цифр"), ("77070838931", "10 / 12 цифр"), ("77070838ab", "10 / 12 цифр"),
    ("0000000000", "из одних нулей"), ("000000000000", "из одних нулей"), ("", "10 / 12 цифр"), (None, "10 / 12 цифр")])
def test_broken_inns_are_refused_with_a_message_naming_the_field(app_ctx, value, fragment):
    with pytest.raises(RequisiteError) as caught:
        requisites.check_inn(value)
    assert caught.value.field == "inn" and "ИНН" in str(caught.value) and fragment in str(caught.value)


def test_ogrn_kind_follows_the_inn_kind(app_ctx):
    assert requisites.check_ogrn(COMPANY_OGRN, COMPANY_INN) == COMPANY_OGRN
    assert requisites.check_ogrn(PROPRIETOR_OGRN, PROPRIETOR_INN) == PROPRIETOR_OGRN
    with pytest.raises(RequisiteError, match="ОГРН: нужно 13 цифр"):
        requisites.check_ogrn(PROPRIETOR_OGRN, COMPANY_INN)
    with pytest.raises(RequisiteError, match="ОГРНИП: нужно 15 цифр"):
        requisites.check_ogrn(COMPANY_OGRN, PROPRIETOR_INN)


@pytest.mark.parametrize("value, inn", [("1027700132196", COMPANY_INN), ("304500116000158", PROPRIETOR_INN),
                                        ("0000000000000", COMPANY_INN)])
def test_broken_ogrns_are_refused(app_ctx, value, inn):
    with pytest.raises(RequisiteError) as caught:
        requisites.check_ogrn(value, inn)
    assert caught.value.field == "ogrn"


def test_kpp_is_required_for_a_company_and_refused_for_a_proprietor(app_ctx):
    assert requisites.check_kpp("773601001", COMPANY_INN) == "773601001"
    assert requisites.check_kpp("7736AB001", COMPANY_INN) == "7736AB001"
    assert requisites.check_kpp("", PROPRIETOR_INN) is None
    for value, inn, fragment in [("", COMPANY_INN, "обязателен"), ("77360100", COMPANY_INN, "9 знаков"),
                                 ("7736a!001", COMPANY_INN, "9 знаков"), ("000000000", COMPANY_INN, "9 знаков"),
                                 ("773601001", PROPRIETOR_INN, "индивидуального предпринимателя")]:
        with pytest.raises(RequisiteError, match=fragment):
            requisites.check_kpp(value, inn)


def test_the_central_bank_example_accounts_match_their_bik():
    assert requisites.check_bik(CORR_BIK) == CORR_BIK
    assert requisites.check_correspondent_account(CORR, CORR_BIK) == CORR
    assert requisites.check_settlement_account(SETTLEMENT, SETTLEMENT_BIK) == SETTLEMENT


@pytest.mark.parametrize("check, value, bik, fragment", [
    (requisites.check_correspondent_account, "30101810800000000747", CORR_BIK, "не соответствует БИК"),
    (requisites.check_correspondent_account, "30101810800000000746", "049815000", "не соответствует БИК"),
    (requisites.check_correspondent_account, "40602810700000000025", SETTLEMENT_BIK, "начинается с 30101"),
    (requisites.check_settlement_account, "40602810700000000026", SETTLEMENT_BIK, "не соответствует БИК"),
    (requisites.check_settlement_account, SETTLEMENT, "049805747", "не соответствует БИК"),
    (requisites.check_settlement_account, "4060281070000000002", SETTLEMENT_BIK, "20 цифр"),
    (requisites.check_settlement_account, "0" * 20, "049805000", "из одних нулей"),
])
def test_broken_accounts_are_refused(app_ctx, check, value, bik, fragment):
    with pytest.raises(RequisiteError, match=fragment):
        check(value, bik)


@pytest.mark.parametrize("value, fragment", [("149805746", "начинается с 04"), ("04980574", "9 цифр"),
                                             ("000000000", "из одних нулей")])
def test_broken_biks_are_refused(app_ctx, value, fragment):
    with pytest.raises(RequisiteError, match=fragment):
        requisites.check_bik(value)


def test_check_company_reports_every_field_once(app_ctx):
    cleaned, errors = requisites.check_company({
        "name": "ООО «Ромашка»", "inn": COMPANY_INN, "kpp": "", "ogrn": "123", "address": " ",
        "bank_name": "Банк", "bik": SETTLEMENT_BIK, "correspondent_account": CORR,
        "settlement_account": "40602810700000000026"})
    assert set(errors) == {"kpp", "ogrn", "address", "settlement_account"}
    assert cleaned["inn"] == COMPANY_INN and cleaned["correspondent_account"] == CORR
    _, errors = requisites.check_company({"inn": "7707083894", "bik": "1"})
    assert {"inn", "bik"} <= set(errors) and "kpp" not in errors and "settlement_account" not in errors
