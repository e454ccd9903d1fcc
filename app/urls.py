"""Absolute links for e-mails and SMS, built from PUBLIC_URL outside any request."""
from flask import current_app


def external_url(endpoint: str, **values) -> str:
    adapter = current_app.url_map.bind("placeholder.invalid", url_scheme="http")
    return current_app.config["PUBLIC_URL"] + adapter.build(endpoint, values)
