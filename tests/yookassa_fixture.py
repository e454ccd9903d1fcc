"""Pytest plugin: the `yookassa` fixture, a running fake YooKassa (dialer/sandbox/yookassa.py) over real HTTP.

Use it in a test module by pointing the app at it:

    @pytest.fixture
    def app_overrides(yookassa):
        return yookassa.app_config()

`app_config()` gives YOOKASSA_API_URL, YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY, YOOKASSA_TRUSTED_NETWORKS
(127.0.0.1/32, so the Flask test client's default REMOTE_ADDR is a trusted sender) and YOOKASSA_TIMEOUT_S=2.

The fake holds notifications instead of posting them (there is no live server for the test client app):
`yookassa.deliver(client)` posts the ones not delivered yet to `/hooks/yookassa` through a Flask test
client, as YooKassa would, and returns the responses. The control methods of FakeYooKassa are there too:
`succeed(id)`, `cancel(id, reason)`, `set_card_decline(method_id, reason)`, `hang(seconds)`,
`fail_next(status)`, `requests` (API requests received, with their JSON bodies), `notifications`, and
`press(confirmation_url, "Pay" | "Decline")`, which presses a checkout page button over HTTP like a browser.
"""
from __future__ import annotations

import re

import pytest
import requests

from dialer.sandbox.yookassa import FakeYooKassa


class YooKassaFixture(FakeYooKassa):
    def __init__(self):
        super().__init__("test-shop", "test_secret")
        self.delivered = 0
        self.on_notification = lambda body: None  # held in `notifications` until `deliver`

    def app_config(self, **extra) -> dict:
        return {"YOOKASSA_API_URL": self.api_url, "YOOKASSA_SHOP_ID": self.shop_id,
                "YOOKASSA_SECRET_KEY": self.secret_key, "YOOKASSA_TRUSTED_NETWORKS": ["127.0.0.1/32"],
                "YOOKASSA_TIMEOUT_S": 2, **extra}

    def deliver(self, client, remote_addr: str = "127.0.0.1") -> list:
        """Post the notifications not delivered yet to the webhook; returns the test client's responses."""
        pending, self.delivered = self.notifications[self.delivered:], len(self.notifications)
        return [client.post("/hooks/yookassa", json=body, environ_base={"REMOTE_ADDR": remote_addr})
                for body in pending]

    def press(self, confirmation_url: str, button: str) -> requests.Response:
        """Open the checkout page and press "Pay" or "Decline", as a browser would (no redirect followed)."""
        page = requests.get(confirmation_url, timeout=10)
        page.raise_for_status()
        value = re.search(rf'<button name=action value=(\w+)>{button}</button>', page.text).group(1)
        return requests.post(confirmation_url, data={"action": value}, allow_redirects=False, timeout=10)


@pytest.fixture
def yookassa():
    fake = YooKassaFixture().start()
    yield fake
    fake.stop()
