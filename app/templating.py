"""Template helpers shared by pages and e-mails."""
from decimal import Decimal

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime, get_locale


def money(kop: int) -> str:
    """Kopecks as roubles in the current locale, e.g. `100,00 ₽`."""
    return format_currency(Decimal(kop) / 100, "RUB")


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_global(format_date, "format_date")
    app.add_template_global(format_datetime, "format_datetime")
    app.add_template_global(get_locale, "get_locale")
