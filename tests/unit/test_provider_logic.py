"""The dynamic provider's pure parts: diff decisions and value forms."""

from __future__ import annotations

import pytest

from orchestrator.adapters.pulumi.provider.recordset import plan_diff, record_id
from orchestrator.domain.values import canonical, from_zone_text, to_zone_text

BASE = {
    "backend": "powerdns",
    "zone": "app.example.test",
    "name": "www.app.example.test",
    "type": "A",
    "ttl": 30,
    "values": ["127.0.10.1", "127.0.10.2"],
    "settings": {"server": "dev"},
}


def test_record_id_names_zone_name_and_type():
    assert record_id(BASE) == "app.example.test/www.app.example.test/A"


def test_no_change_when_only_value_order_differs():
    news = dict(BASE, values=["127.0.10.2", "127.0.10.1"])
    assert plan_diff(BASE, news) == ([], [])


def test_changed_targets_are_an_in_place_update():
    news = dict(BASE, values=["127.0.20.1"])
    changes, replaces = plan_diff(BASE, news)
    assert changes == ["values"]
    assert replaces == []


def test_changed_ttl_is_an_update():
    assert plan_diff(BASE, dict(BASE, ttl=60)) == (["ttl"], [])


@pytest.mark.parametrize(
    "key,value", [("zone", "other.test"), ("name", "x.app.example.test"), ("type", "AAAA")]
)
def test_identity_change_forces_replacement(key, value):
    changes, replaces = plan_diff(BASE, dict(BASE, **{key: value}))
    assert replaces == [key]
    assert key in changes


def test_settings_change_is_recorded_without_replacement():
    changes, replaces = plan_diff(BASE, dict(BASE, settings={"server": "dev", "serverId": "other"}))
    assert changes == ["settings"]
    assert replaces == []


def test_txt_values_are_quoted_and_chunked_at_255_octets():
    long = "x" * 300
    text = to_zone_text("TXT", long)
    assert text == '"' + "x" * 255 + '" "' + "x" * 45 + '"'
    assert from_zone_text("TXT", text) == long


def test_txt_quotes_and_backslashes_round_trip():
    value = 'a"b\\c;d'
    assert from_zone_text("TXT", to_zone_text("TXT", value)) == value


def test_cname_is_canonical_without_trailing_dot_and_lower_case():
    assert to_zone_text("CNAME", "LB.Example.net") == "lb.example.net."
    assert from_zone_text("CNAME", "lb.example.net.") == "lb.example.net"


def test_canonical_sorts_and_deduplicates():
    assert canonical("A", ["10.0.0.2", "10.0.0.1", "10.0.0.2"]) == ["10.0.0.1", "10.0.0.2"]
    assert canonical("AAAA", ["2001:DB8::1"]) == ["2001:db8::1"]


def test_malformed_value_is_rejected_by_the_rdata_parser():
    with pytest.raises(Exception, match=r"(?i)ipv4|text|syntax|malformed"):
        canonical("A", ["300.1.1.1"])
