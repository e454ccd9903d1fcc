"""Configuration from the environment: a mistyped network list stops the start with a message naming it."""
from __future__ import annotations

import pytest

from app.config import from_env


@pytest.mark.parametrize("name", ["YOOKASSA_TRUSTED_NETWORKS", "MTT_EVENT_NETWORKS"])
def test_a_mistyped_network_is_refused_at_start_naming_the_variable(name):
    with pytest.raises(ValueError, match=f"{name}: '185.71.76.0/33' is not an IP network"):
        from_env({"SECRET_KEY": "x", name: "77.75.153.0/25, 185.71.76.0/33"})


def test_network_lists_take_commas_or_spaces_and_default_to_the_sandbox_only_without_a_shop():
    config = from_env({"SECRET_KEY": "x", "MTT_EVENT_NETWORKS": "91.0.0.0/8, 2a02:5180::/32 10.1.2.3"})
    assert config["MTT_EVENT_NETWORKS"] == ["91.0.0.0/8", "2a02:5180::/32", "10.1.2.3"]
    assert config["YOOKASSA_TRUSTED_NETWORKS"] == ["127.0.0.1/32"]
    assert from_env({"SECRET_KEY": "x", "YOOKASSA_SHOP_ID": "123"})["YOOKASSA_TRUSTED_NETWORKS"] == []


def test_the_mtt_adapters_timeouts_and_retries_come_from_the_environment():
    from dialer.providers.mtt import MttConfig

    env = {"SECRET_KEY": "x", "MTT_TIMEOUT_S": "2.5", "MTT_CONNECT_TIMEOUT_S": "1", "MTT_RETRIES": "0",
           "MTT_BACKOFF_S": "0.2"}
    adapter = MttConfig.from_mapping(from_env(env))
    assert (adapter.timeout_s, adapter.connect_timeout_s, adapter.retries, adapter.backoff_s) == (2.5, 1.0, 0, 0.2)
    defaults = MttConfig.from_mapping(from_env({"SECRET_KEY": "x"}))
    assert (defaults.timeout_s, defaults.retries) == (MttConfig.timeout_s, MttConfig.retries)
