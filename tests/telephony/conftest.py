"""Fixtures for the telephony tests: the MTT sandbox on loopback, an adapter pointed at it, an events receiver.

Pure HTTP: no database and no Flask app. The sandbox runs at 1/100 of real time, so a 30 s call takes 0.3 s.
"""
from __future__ import annotations

import pytest
from mtt_helpers import EventsReceiver, mtt_settings, new_sandbox, provider_for


@pytest.fixture
def sandbox():
    with new_sandbox() as server:
        yield server


@pytest.fixture
def mtt(sandbox):
    provider = provider_for(sandbox)
    yield provider
    provider.session.close()


@pytest.fixture
def receiver():
    server = EventsReceiver()
    yield server
    server.close()


@pytest.fixture
def app_overrides(sandbox, request):
    """For tests with the `app` fixture: the app's MTT settings point at this test's sandbox (plus what an
    indirect parametrization adds)."""
    return {**mtt_settings(sandbox), **getattr(request, "param", {})}
