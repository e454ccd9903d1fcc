"""A visitor signs up, resets a forgotten password and reads form errors in a real Chromium.

Everything asserted is what the page (or the e-mail the `mailbox` SMTP server received) shows to the person.
The interface is Russian by default, so the tests find elements by their Russian labels, as the user does.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import zoneinfo

import pytest
from babel.dates import format_date
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CLIENT_ID_RE = r"^[2-9A-Z]{3}-[2-9A-Z]{4}$"
ACCOUNT_TZ = zoneinfo.ZoneInfo("Europe/Moscow")  # the timezone a new account gets; the cabinet renders in it
TRIAL_DAYS = 14


def wait_for_mail(mailbox, matches, timeout: float = 10):
    """The first received message for which `matches(message)` is true, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        for message in mailbox.messages[seen:]:
            if matches(message):
                return message
        seen = len(mailbox.messages)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            got = [(m.rcpt_tos, m.subject) for m in mailbox.messages]
            raise AssertionError(f"no matching e-mail within {timeout}s; received: {got}")
        with contextlib.suppress(AssertionError):  # nothing new this second: look again until the deadline
            mailbox.wait_for(seen + 1, timeout=min(remaining, 1))


def addressed_to(email: str, subject: str):
    return lambda message: email in message.rcpt_tos and subject in message.subject


def fill_login(page, email: str, password: str) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()


def test_signup_end_to_end(page, live_server, mailbox):
    email, password, company = "anna@roga-kopyta.example.com", "kopyta-2024-secret", "ООО «Рога и копыта»"
    today = dt.datetime.now(ACCOUNT_TZ).date()

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", level=1)).to_have_text("Перезвоним вашему посетителю за 28 секунд")
    expect(page.get_by_role("link", name="Попробуйте бесплатно 14 дней")).to_be_visible()

    page.get_by_role("link", name="Зарегистрироваться").click()
    expect(page).to_have_url(f"{live_server}/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Зарегистрироваться")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_label("Компания").fill(company)
    page.get_by_role("button", name="Создать аккаунт").click()

    expect(page).to_have_url(f"{live_server}/cabinet/")
    expect(page.get_by_role("status")).to_have_text("Добро пожаловать! Ваш аккаунт готов.")
    expect(page.get_by_role("heading", level=1)).to_have_text(company)
    client_id = page.get_by_test_id("client-id")
    expect(client_id).to_have_text(re.compile(CLIENT_ID_RE))
    code = client_id.inner_text().strip()
    balance = page.get_by_test_id("balance").inner_text()
    assert "100,00" in balance and "₽" in balance, balance
    # The trial ends 14 days from now, shown as a Russian "medium" date-time; allow for midnight passing mid-test.
    trial_end = page.get_by_test_id("trial-end").inner_text()
    later_today = dt.datetime.now(ACCOUNT_TZ).date()
    expected = {format_date(day + dt.timedelta(days=TRIAL_DAYS), "medium", locale="ru")
                for day in (today, later_today)}
    assert any(date in trial_end for date in expected), f"{trial_end!r} shows none of {expected}"

    welcome = wait_for_mail(mailbox, addressed_to(email, code))
    # .strip(): a folded encoded Subject header parses with a leading space (the mail library folds it).
    assert welcome.subject.strip() == f"Добро пожаловать в CallBack! Ваш ID клиента: {code}"
    assert f"ID клиента: {code}" in welcome.text
    assert f"{live_server}/cabinet/" in welcome.text  # the link leads to the server the user signed up on


def test_password_reset_end_to_end(page, live_server, mailbox, make_client_user):
    _, _, email, old_password = make_client_user()
    new_password = "brand-new-secret-7"

    page.goto("/login")
    page.get_by_role("link", name="Забыли пароль?").click()
    expect(page).to_have_url(f"{live_server}/password/reset")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Отправить ссылку").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("status")).to_contain_text("Если этот адрес зарегистрирован")

    letter = wait_for_mail(mailbox, addressed_to(email, "Сброс пароля CallBack"))
    link = re.search(rf"{re.escape(live_server)}/password/reset/[A-Za-z0-9_.\-]+", letter.text)
    assert link, f"no reset link to {live_server} in:\n{letter.text}"

    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("Новый пароль")
    page.get_by_label("Новый пароль", exact=True).fill(new_password)
    page.get_by_label("Повторите новый пароль").fill(new_password)
    page.get_by_role("button", name="Сохранить пароль").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("status")).to_have_text("Ваш пароль изменён. Войдите, пожалуйста.")
    wait_for_mail(mailbox, addressed_to(email, "Ваш пароль CallBack изменён"))

    # The old password is refused, with the reason next to the password field.
    fill_login(page, email, old_password)
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.locator("#password-error")).to_have_text("Неверный e-mail или пароль.")
    expect(page.get_by_label("Пароль", exact=True)).to_have_attribute("aria-invalid", "true")

    # The new one opens the cabinet.
    fill_login(page, email, new_password)
    expect(page).to_have_url(f"{live_server}/cabinet/")
    expect(page.get_by_test_id("client-id")).to_have_text(re.compile(CLIENT_ID_RE))

    # The link worked once: opened again, it explains itself instead of offering the form.
    response = page.goto(link.group(0))
    assert response.status == 400
    expect(page.locator("p.error")).to_have_text("Эта ссылка уже использована или больше недействительна.")
    expect(page.get_by_label("Новый пароль", exact=True)).to_have_count(0)


def test_signup_with_registered_email_shows_error_next_to_the_field(page, live_server, make_client_user):
    _, _, email, _ = make_client_user()

    page.goto("/signup")
    page.get_by_label("E-mail").fill(email.upper())  # the same address typed differently is still taken
    page.get_by_label("Пароль", exact=True).fill("another-secret-42")
    page.get_by_label("Компания").fill("Другая компания")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Создать аккаунт").click()

    assert navigation.value.status == 200
    expect(page).to_have_url(f"{live_server}/signup")
    email_field = page.get_by_label("E-mail")
    expect(email_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_have_text("Этот e-mail уже зарегистрирован.")
    expect(email_field).to_have_attribute("aria-describedby", "email-error")
    expect(page.get_by_label("Компания")).to_have_value("Другая компания")  # what was typed is kept


def test_language_switch_to_english_and_back(page, live_server):
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Войти")

    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(f"{live_server}/login")  # the switch returns to the same page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()

    page.get_by_role("banner").get_by_role("link", name="Sign up").click()  # the choice holds on the next page
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up")
    expect(page.get_by_role("button", name="Create account")).to_be_visible()

    page.get_by_role("button", name="Русский").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", level=1)).to_have_text("Зарегистрироваться")
