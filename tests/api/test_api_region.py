"""The request's region (C3): from a MaxMind City database when one is configured, else from the number."""
from __future__ import annotations

import pytest
from helpers import save_site_settings
from mmdb_writer import MMDBWriter
from netaddr import IPSet

KAZAN = {
    "city": {"names": {"ru": "Казань", "en": "Kazan"}},
    "subdivisions": [{"names": {"ru": "Татарстан", "en": "Tatarstan"}}],
    "country": {"iso_code": "RU", "names": {"ru": "Россия", "en": "Russia"}},
}


def write_city_database(path) -> str:
    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-City", languages=["ru", "en"])
    writer.insert_network(IPSet(["10.1.0.0/16"]), KAZAN)
    writer.to_db_file(str(path))
    return str(path)


class TestWithAGeoipDatabase:
    @pytest.fixture
    def app_overrides(self, tmp_path):
        return {"GEOIP_DB_PATH": write_city_database(tmp_path / "city.mmdb")}

    def test_the_region_comes_from_the_ip_address(self, post_callback, stored_requests):
        assert post_callback(phone="+7 499 200-12-34", ip="10.1.2.3").status_code == 201
        assert stored_requests()[0].region == "Казань, Татарстан, Россия"

    def test_the_region_is_named_in_the_sites_language(self, app, site, post_callback, stored_requests):
        save_site_settings(app, site, {"language": "en"})
        assert post_callback(ip="10.1.200.1").status_code == 201
        assert stored_requests()[0].region == "Kazan, Tatarstan, Russia"

    def test_an_address_the_database_does_not_know_falls_back_to_the_number(self, post_callback, stored_requests):
        assert post_callback(phone="+7 499 200-12-34", ip="10.2.0.1").status_code == 201
        assert "Москва" in stored_requests()[0].region


def test_without_a_database_the_region_comes_from_the_number(post_callback, stored_requests):
    assert post_callback(phone="+7 499 200-12-34", ip="10.1.2.3").status_code == 201
    assert "Москва" in stored_requests()[0].region
