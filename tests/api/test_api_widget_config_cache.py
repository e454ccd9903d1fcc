"""The per-process cache of built configurations (WIDGET_CONFIG_CACHE_S): its staleness window, documented."""
from __future__ import annotations

import pytest
from helpers import save_site_settings


@pytest.fixture
def app_overrides():
    return {"WIDGET_CONFIG_CACHE_S": 300}


def title(client, site) -> str:
    return client.get(f"/api/v1/widget/{site.public_key}").get_json()["texts"]["title"]


def test_a_settings_change_is_served_only_once_the_cached_config_is_gone(app, client, site):
    before = title(client, site)
    save_site_settings(app, site, {"texts": {"title": "Новый заголовок"}})
    assert title(client, site) == before  # stale for up to WIDGET_CONFIG_CACHE_S (+ the response's max-age)
    app.extensions["public_cache"].clear()  # what the cache's expiry does
    assert title(client, site) == "Новый заголовок"


def test_a_cached_config_keeps_its_etag_until_it_expires(app, client, site):
    etag = client.get(f"/api/v1/widget/{site.public_key}").headers["ETag"]
    save_site_settings(app, site, {"texts": {"title": "Новый заголовок"}})
    assert client.get(f"/api/v1/widget/{site.public_key}", headers={"If-None-Match": etag}).status_code == 304
