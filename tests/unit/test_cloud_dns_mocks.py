"""Cloud DNS resources (Route 53, Cloud DNS, Cloudflare) declared from planned record sets.

These tests use Pulumi MOCKS (`pulumi.runtime.set_mocks`): no cloud API can be reached here
(no network, no account, no provider plugins), so a mock engine records what
`orchestrator.adapters.pulumi.cloud_dns` asks Pulumi to create (type token, logical name, inputs) and the
tests assert on exactly that. They prove the mapping (names, TTLs, value formats, settings
wiring, errors), not that a cloud accepts it; docs/cloud-providers.md says what is untested.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws
import pytest

from orchestrator.adapters.pulumi.cloud_dns import cloud_record_resources, effective_ttl
from orchestrator.domain.errors import ConfigError

ROUTE53 = "aws:route53/record:Record"
CLOUDDNS = "gcp:dns/recordSet:RecordSet"
CLOUDFLARE = "cloudflare:index/dnsRecord:DnsRecord"

ZONE = "example.com"
ACTIVE_NAME = "kuadrant-active-groups.example.com"
ACTIVE_VALUE = "version=1;groups=group-a&&group-b"
REGISTRY_NAME = "kuadrant-1a2b3c4d-a-app.example.com"
# 310 characters: one TXT string holds 255, so the clouds must see two strings.
REGISTRY_HEAD = (
    "heritage=external-dns,external-dns/group=group-a,external-dns/owner=group-a,"
    "external-dns/targets=10.0.1.1;10.0.1.2;10.0.1.3;10.0.1.4;10.0.1.5;10.0.1.6;10.0.1.7;"
    "10.0.1.8;10.0.1.9;10.0.1.10;10.0.1.11;10.0.1.12;10.0.1.13;10.0.1.14;10.0.1.15;10.0.1.16;10.0.1."
)
REGISTRY_TAIL = "17;10.0.1.18;10.0.1.19;10.0.1.20,external-dns/version=1"
REGISTRY_VALUE = REGISTRY_HEAD + REGISTRY_TAIL


@dataclass(frozen=True)
class RecordSet:
    zone: str
    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.name}/{self.type}"


@dataclass(frozen=True)
class Zone:
    name: str
    provider: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None = None


class RecordingMocks(pulumi.runtime.Mocks):
    """Stands in for the engine and the cloud: records each registration, echoes inputs."""

    def __init__(self) -> None:
        self.registered: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs), args.provider))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def declare(
    zone: Zone, *record_sets: RecordSet, opts: Callable[[], pulumi.ResourceOptions] | None = None
) -> list[Registered]:
    """Runs cloud_record_resources under mocks; returns what reached the (mock) engine."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def program() -> None:
        options = opts() if opts else None  # built inside the program, like a real one
        for rs in record_sets:
            cloud_record_resources(zone, rs, options)

    program()  # returns once every registration has been answered
    # Registrations reach the engine concurrently, in no fixed order: sort for stable asserts.
    return sorted(mocks.registered, key=lambda r: r.name)


def refused(zone: Zone, rs: RecordSet) -> ConfigError:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    with pytest.raises(ConfigError) as info:
        cloud_record_resources(zone, rs)
    assert mocks.registered == []  # a refused input declares nothing
    return info.value


def a_set(*values: str, ttl: int = 60) -> RecordSet:
    return RecordSet(ZONE, "app.example.com", "A", ttl, values)


AAAA = RecordSet(ZONE, "app.example.com", "AAAA", 60, ("2001:db8::1", "2001:db8::2"))
CNAME = RecordSet(ZONE, "www.example.com", "CNAME", 300, ("lb.group-a.example.net",))
ACTIVE = RecordSet(ZONE, ACTIVE_NAME, "TXT", 300, (ACTIVE_VALUE,))
REGISTRY = RecordSet(ZONE, REGISTRY_NAME, "TXT", 300, (REGISTRY_VALUE,))


def test_registry_value_needs_two_txt_strings() -> None:
    assert len(REGISTRY_HEAD) == 255
    assert len(REGISTRY_VALUE) == 310


# --- Route 53 ---------------------------------------------------------------------------

R53 = Zone(ZONE, "route53", {"hostedZoneId": "Z0123456789ABCDEFGHIJ"})


def test_route53_one_record_per_set_with_plain_values() -> None:
    got = declare(R53, a_set("10.0.0.1", "10.0.0.2"), AAAA, CNAME)
    assert [(r.typ, r.name) for r in got] == [
        (ROUTE53, "example.com/app.example.com/A"),
        (ROUTE53, "example.com/app.example.com/AAAA"),
        (ROUTE53, "example.com/www.example.com/CNAME"),
    ]
    a, aaaa, cname = (r.inputs for r in got)
    assert a == {
        "zoneId": "Z0123456789ABCDEFGHIJ",
        "name": "app.example.com",
        "type": "A",
        "ttl": 60,
        "records": ["10.0.0.1", "10.0.0.2"],
    }
    assert aaaa["records"] == ["2001:db8::1", "2001:db8::2"]
    assert (cname["name"], cname["ttl"], cname["records"]) == (
        "www.example.com",
        300,
        ["lb.group-a.example.net"],
    )


def test_route53_txt_is_passed_without_outer_quotes_and_split_at_255() -> None:
    # The provider adds one pair of quotes itself; Route 53 receives "..." and "..." "...".
    registry, active = declare(R53, ACTIVE, REGISTRY)
    assert active.name == "example.com/kuadrant-active-groups.example.com/TXT"
    assert active.inputs["name"] == "kuadrant-active-groups.example.com"
    assert active.inputs["records"] == ["version=1;groups=group-a&&group-b"]
    assert registry.inputs["name"] == "kuadrant-1a2b3c4d-a-app.example.com"
    assert registry.inputs["records"] == [
        "heritage=external-dns,external-dns/group=group-a,external-dns/owner=group-a,"
        "external-dns/targets=10.0.1.1;10.0.1.2;10.0.1.3;10.0.1.4;10.0.1.5;10.0.1.6;10.0.1.7;"
        "10.0.1.8;10.0.1.9;10.0.1.10;10.0.1.11;10.0.1.12;10.0.1.13;10.0.1.14;10.0.1.15;10.0.1.16;10.0.1."
        '" "'
        "17;10.0.1.18;10.0.1.19;10.0.1.20,external-dns/version=1"
    ]


def test_route53_txt_escapes_quotes_and_backslashes() -> None:
    (got,) = declare(R53, RecordSet(ZONE, "t.example.com", "TXT", 60, ('say "hi" \\o/',)))
    assert got.inputs["records"] == ['say \\"hi\\" \\\\o/']


def test_route53_allow_overwrite_is_wired() -> None:
    zone = Zone(ZONE, "route53", {"hostedZoneId": "Z1", "allowOverwrite": True})
    (got,) = declare(zone, a_set("10.0.0.1"))
    assert got.inputs["zoneId"] == "Z1"
    assert got.inputs["allowOverwrite"] is True


def test_route53_missing_hosted_zone_id_is_a_config_error() -> None:
    err = refused(Zone(ZONE, "route53", {}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.hostedZoneId"
    assert "aws route53 list-hosted-zones-by-name --dns-name example.com" in err.fix


def test_route53_region_is_refused_because_route53_is_global() -> None:
    err = refused(Zone(ZONE, "route53", {"hostedZoneId": "Z1", "region": "eu-west-1"}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.region"
    assert "global" in err.why


def test_route53_allow_overwrite_must_be_a_boolean() -> None:
    err = refused(Zone(ZONE, "route53", {"hostedZoneId": "Z1", "allowOverwrite": "yes"}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.allowOverwrite"


# --- Cloud DNS --------------------------------------------------------------------------

GCP = Zone(ZONE, "clouddns", {"managedZone": "example-com"})


def test_clouddns_names_end_with_a_dot_and_cname_targets_too() -> None:
    got = declare(GCP, a_set("10.0.0.1", "10.0.0.2"), AAAA, CNAME)
    assert [(r.typ, r.name) for r in got] == [
        (CLOUDDNS, "example.com/app.example.com/A"),
        (CLOUDDNS, "example.com/app.example.com/AAAA"),
        (CLOUDDNS, "example.com/www.example.com/CNAME"),
    ]
    a, aaaa, cname = (r.inputs for r in got)
    assert a == {
        "managedZone": "example-com",
        "name": "app.example.com.",
        "type": "A",
        "ttl": 60,
        "rrdatas": ["10.0.0.1", "10.0.0.2"],
    }
    assert (aaaa["name"], aaaa["rrdatas"]) == ("app.example.com.", ["2001:db8::1", "2001:db8::2"])
    assert (cname["name"], cname["ttl"], cname["rrdatas"]) == (
        "www.example.com.",
        300,
        ["lb.group-a.example.net."],
    )


def test_clouddns_txt_is_quoted_and_split_into_strings() -> None:
    registry, active = declare(GCP, ACTIVE, REGISTRY)
    assert active.inputs["name"] == "kuadrant-active-groups.example.com."
    assert active.inputs["rrdatas"] == ['"version=1;groups=group-a&&group-b"']
    assert registry.inputs["name"] == "kuadrant-1a2b3c4d-a-app.example.com."
    assert registry.inputs["rrdatas"] == [
        '"heritage=external-dns,external-dns/group=group-a,external-dns/owner=group-a,'
        "external-dns/targets=10.0.1.1;10.0.1.2;10.0.1.3;10.0.1.4;10.0.1.5;10.0.1.6;10.0.1.7;"
        '10.0.1.8;10.0.1.9;10.0.1.10;10.0.1.11;10.0.1.12;10.0.1.13;10.0.1.14;10.0.1.15;10.0.1.16;10.0.1." '
        '"17;10.0.1.18;10.0.1.19;10.0.1.20,external-dns/version=1"'
    ]


def test_clouddns_project_is_wired() -> None:
    (got,) = declare(Zone(ZONE, "clouddns", {"managedZone": "mz", "project": "acme-dns"}), a_set("10.0.0.1"))
    assert (got.inputs["managedZone"], got.inputs["project"]) == ("mz", "acme-dns")


def test_clouddns_missing_managed_zone_is_a_config_error() -> None:
    err = refused(Zone(ZONE, "clouddns", {"project": "acme-dns"}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.managedZone"
    assert "gcloud dns managed-zones list --filter='dnsName=example.com.'" in err.fix


# --- Cloudflare -------------------------------------------------------------------------

CF = Zone(ZONE, "cloudflare", {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"})


def test_cloudflare_one_record_per_address_named_by_value() -> None:
    got = declare(CF, a_set("10.0.0.1", "10.0.0.2"), AAAA)
    assert [(r.typ, r.name) for r in got] == [
        (CLOUDFLARE, "example.com/app.example.com/A#10.0.0.1"),
        (CLOUDFLARE, "example.com/app.example.com/A#10.0.0.2"),
        (CLOUDFLARE, "example.com/app.example.com/AAAA#2001:db8::1"),
        (CLOUDFLARE, "example.com/app.example.com/AAAA#2001:db8::2"),
    ]
    assert got[0].inputs == {
        "zoneId": "023e105f4ecef8ad9ca31a8372d0c353",
        "name": "app.example.com",
        "type": "A",
        "ttl": 60,
        "content": "10.0.0.1",
        "proxied": False,
    }
    assert [r.inputs["content"] for r in got[1:]] == ["10.0.0.2", "2001:db8::1", "2001:db8::2"]


def test_cloudflare_adding_a_target_keeps_the_other_names() -> None:
    before = {r.name for r in declare(CF, a_set("10.0.0.1", "10.0.0.2"))}
    after = {r.name for r in declare(CF, a_set("10.0.0.2", "10.0.0.1", "10.0.0.3"))}
    assert before < after
    assert after - before == {"example.com/app.example.com/A#10.0.0.3"}


def test_cloudflare_cname_is_one_record_named_by_set_without_trailing_dot() -> None:
    (got,) = declare(CF, CNAME)
    assert (got.typ, got.name) == (CLOUDFLARE, "example.com/www.example.com/CNAME")
    assert got.inputs["name"] == "www.example.com"
    assert got.inputs["content"] == "lb.group-a.example.net"
    assert got.inputs["ttl"] == 300


def test_cloudflare_txt_is_quoted_split_and_named_by_set() -> None:
    registry, active = declare(CF, ACTIVE, REGISTRY)
    assert active.name == "example.com/kuadrant-active-groups.example.com/TXT"
    assert active.inputs["name"] == "kuadrant-active-groups.example.com"
    assert active.inputs["content"] == '"version=1;groups=group-a&&group-b"'
    assert registry.name == "example.com/kuadrant-1a2b3c4d-a-app.example.com/TXT"
    assert registry.inputs["content"] == (
        '"heritage=external-dns,external-dns/group=group-a,external-dns/owner=group-a,'
        "external-dns/targets=10.0.1.1;10.0.1.2;10.0.1.3;10.0.1.4;10.0.1.5;10.0.1.6;10.0.1.7;"
        '10.0.1.8;10.0.1.9;10.0.1.10;10.0.1.11;10.0.1.12;10.0.1.13;10.0.1.14;10.0.1.15;10.0.1.16;10.0.1." '
        '"17;10.0.1.18;10.0.1.19;10.0.1.20,external-dns/version=1"'
    )


def test_cloudflare_ttl_below_60_is_raised_to_60_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        (got,) = declare(CF, a_set("10.0.0.1", ttl=30))
    assert got.inputs["ttl"] == 60
    assert (
        "example.com/app.example.com/A: TTL 30s is outside Cloudflare's 60..86400s; 60s is used"
        in caplog.text
    )
    assert effective_ttl(CF, a_set("10.0.0.1", ttl=30)) == 60
    assert effective_ttl(CF, a_set("10.0.0.1", ttl=1)) == 60  # never 'automatic' by accident
    assert effective_ttl(R53, a_set("10.0.0.1", ttl=30)) == 30


def test_cloudflare_proxied_applies_to_addresses_only_with_automatic_ttl() -> None:
    zone = Zone(ZONE, "cloudflare", {"zoneId": "z1", "proxied": True})
    a, txt = declare(zone, a_set("10.0.0.1", ttl=300), ACTIVE)
    assert (a.inputs["zoneId"], a.inputs["proxied"], a.inputs["ttl"]) == ("z1", True, 1)
    assert (txt.inputs["proxied"], txt.inputs["ttl"]) == (False, 300)
    assert effective_ttl(zone, a_set("10.0.0.1", ttl=60)) == 300  # 'Auto' is served as 300 s


def test_cloudflare_missing_zone_id_is_a_config_error() -> None:
    err = refused(Zone(ZONE, "cloudflare", {"proxied": False}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.zoneId"
    assert "https://api.cloudflare.com/client/v4/zones?name=example.com" in err.fix


def test_cloudflare_refuses_a_second_cname_value() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    two = RecordSet(ZONE, "www.example.com", "CNAME", 300, ("a.example.net", "b.example.net"))
    with pytest.raises(ValueError, match="exactly one value"):
        cloud_record_resources(CF, two)
    assert mocks.registered == []


# --- dispatch ---------------------------------------------------------------------------


def test_resource_options_reach_every_resource() -> None:
    # The hook for a second account: the caller passes an explicit provider in opts.
    def with_provider() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=pulumi_aws.Provider("aws-dns-account", region="us-east-1"))

    got = declare(R53, a_set("10.0.0.1"), CNAME, opts=with_provider)
    records = [r for r in got if r.typ == ROUTE53]
    assert len(records) == 2
    assert all(r.provider and "::aws-dns-account::" in r.provider for r in records)


# --- dispatch (errors) ---------------------------------------------------------------------------


def test_unknown_key_is_refused_as_a_likely_typo() -> None:
    err = refused(Zone(ZONE, "clouddns", {"managedZone": "mz", "projectId": "p"}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].settings.projectId"
    assert "known: managedZone, project" in err.why


def test_a_local_provider_is_not_a_cloud_provider() -> None:
    err = refused(Zone(ZONE, "powerdns", {"apiUrl": "http://127.0.0.1:8081"}), a_set("10.0.0.1"))
    assert err.key == "orchestrator:topology.zones[example.com].provider"
