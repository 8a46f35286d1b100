"""Planned record sets -> cloud DNS resources: Route 53, Cloud DNS, Cloudflare.

One function, `cloud_record_resources`, turns one record set of a cloud zone into the
Pulumi resources that serve it. Values arrive canonical (addresses; CNAME targets without
trailing dot; TXT as plain text) and leave in each provider's own input form; see
docs/cloud-providers.md for every rule and its source.

Provider credentials are never inputs here: each provider reads its standard configuration
(`aws:*`, `gcp:*`, `cloudflare:*` stack config, or AWS_*, GOOGLE_*, CLOUDFLARE_API_TOKEN).
Nothing here talks to a cloud; the unit tests run it against Pulumi mocks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pulumi
import pulumi_aws
import pulumi_gcp

from orchestrator.domain.errors import ConfigError
from orchestrator.domain.providers import CLOUDDNS, CLOUDFLARE, ROUTE53
from orchestrator.domain.records import RecordSet
from orchestrator.domain.values import txt_strings

with warnings.catch_warnings():
    # pulumi_cloudflare imports all its modules at once, and each deprecated resource warns
    # on import: dozens of warnings that would bury ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    import pulumi_cloudflare

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "TXT")

# Cloudflare: "Value must be between 60 and 86400, with the minimum reduced to 30 for
# Enterprise zones"; 1 means 'automatic' (pulumi_cloudflare.DnsRecord, v6 docstring).
CLOUDFLARE_MIN_TTL = 60
CLOUDFLARE_MAX_TTL = 86400
CLOUDFLARE_AUTO_TTL = 1
# "A TTL of Auto is set to 300 seconds"; proxied records always have it (Cloudflare docs,
# dns/manage-dns-records/reference/ttl).
CLOUDFLARE_AUTO_TTL_SECONDS = 300
CLOUDFLARE_PROXIABLE = ("A", "AAAA", "CNAME")
# DNS allows one CNAME per name, and our TXT sets hold one value each (active groups, one
# registry entry per owner/type/host): on Cloudflare these are one record, updated in place.
CLOUDFLARE_SINGLE_VALUE = ("CNAME", "TXT")


class ZoneLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...


def cloud_record_resources(
    zone: ZoneLike, rs: RecordSet, opts: pulumi.ResourceOptions | None = None
) -> list[pulumi.CustomResource]:
    """The resources that serve `rs` in the cloud zone `zone` (declared, not yet created)."""
    builder = _BUILDERS.get(zone.provider)
    if builder is None:
        raise ConfigError(
            f"orchestrator:topology.zones[{zone.name}].provider",
            f"'{zone.provider}' is not a cloud DNS provider",
            f"use one of {', '.join(_BUILDERS)} (local servers use their own providers)",
        )
    _check_record_set(rs)
    return builder(zone, rs, opts)


def effective_ttl(zone: ZoneLike, rs: RecordSet) -> int:
    """The TTL the cloud will actually serve for `rs`, which waits on TTLs must use.

    Only Cloudflare differs from the plan: it clamps to 60..86400, and proxied records have
    'Auto' TTL, which Cloudflare serves as 300 s.
    """
    if zone.provider != CLOUDFLARE:
        return rs.ttl
    if _cloudflare_proxied(zone, rs):
        return CLOUDFLARE_AUTO_TTL_SECONDS
    return min(max(rs.ttl, CLOUDFLARE_MIN_TTL), CLOUDFLARE_MAX_TTL)


# --- Route 53 -------------------------------------------------------------------------


def route53_records(
    zone: ZoneLike, rs: RecordSet, opts: pulumi.ResourceOptions | None = None
) -> list[pulumi.CustomResource]:
    settings = _settings(zone, required={"hostedZoneId": _ROUTE53_ZONE_FIX}, optional={"allowOverwrite"})
    kwargs: dict[str, Any] = {}
    if "allowOverwrite" in settings:
        kwargs["allow_overwrite"] = _bool(zone, settings, "allowOverwrite")
    record = pulumi_aws.route53.Record(
        rs.key,
        zone_id=settings["hostedZoneId"],
        name=rs.name,  # Route 53 treats names with and without the final dot alike
        type=rs.type,
        ttl=rs.ttl,
        records=[_route53_value(rs.type, v) for v in rs.values],
        opts=opts,
        **kwargs,
    )
    return [record]


def _route53_value(rtype: str, value: str) -> str:
    # The provider (terraform-provider-aws, internal/service/route53/record.go,
    # flattenTxtEntry) wraps each TXT entry in ONE pair of quotes itself and strips them on
    # read; it does not split long values. So we pass the entry without its outer quotes
    # and join the 255-octet strings with `" "`: Route 53 receives `"abc" "def"`. Quoting
    # it ourselves would reach Route 53 as `""abc""`.
    if rtype == "TXT":
        return '" "'.join(_txt_strings(value))
    return value


# --- Cloud DNS --------------------------------------------------------------------------


def clouddns_record_sets(
    zone: ZoneLike, rs: RecordSet, opts: pulumi.ResourceOptions | None = None
) -> list[pulumi.CustomResource]:
    settings = _settings(zone, required={"managedZone": _CLOUDDNS_ZONE_FIX}, optional={"project"})
    kwargs: dict[str, Any] = {}
    if "project" in settings:
        kwargs["project"] = _str(zone, settings, "project")
    record_set = pulumi_gcp.dns.RecordSet(
        rs.key,
        managed_zone=settings["managedZone"],
        name=_dot(rs.name),  # "The record name must include the trailing dot" (provider docs)
        type=rs.type,
        ttl=rs.ttl,
        rrdatas=[_clouddns_value(rs.type, v) for v in rs.values],
        opts=opts,
        **kwargs,
    )
    return [record_set]


def _clouddns_value(rtype: str, value: str) -> str:
    # rrdatas are zone-file text: unquoted TXT is split on spaces by Cloud DNS, so every
    # TXT is quoted, and >255 octets become several quoted strings (provider docs).
    if rtype == "TXT":
        return _quoted_txt(value)
    if rtype == "CNAME":
        return _dot(value)
    return value


# --- Cloudflare -------------------------------------------------------------------------


def cloudflare_records(
    zone: ZoneLike, rs: RecordSet, opts: pulumi.ResourceOptions | None = None
) -> list[pulumi.CustomResource]:
    """One DnsRecord per value: Cloudflare has records, not record sets.

    A/AAAA: named `<key>#<value>`, so adding or removing a target never renames (and so
    never recreates) the others, and the same value is always the same resource (Cloudflare
    rejects an identical second record). A switch is then create-new, then delete-old:
    Pulumi deletes resources that left the program only after all creates and updates, so
    the name keeps at least one address throughout (make-before-break). It is not atomic:
    for a moment a resolver may get old and new targets together.

    CNAME/TXT: one value, named `<key>`, changed in place (one PATCH). A second CNAME
    beside the old one would be refused (CNAME must be alone at a name), and two
    active-groups or registry TXT values at once would be ambiguous for their readers.
    """
    settings = _settings(zone, required={"zoneId": _CLOUDFLARE_ZONE_FIX}, optional={"proxied"})
    if rs.type in CLOUDFLARE_SINGLE_VALUE and len(rs.values) != 1:
        raise ValueError(
            f"{rs.key}: a Cloudflare {rs.type} set must have exactly one value, got {len(rs.values)}"
        )
    proxied = _cloudflare_proxied(zone, rs)
    ttl = CLOUDFLARE_AUTO_TTL if proxied else effective_ttl(zone, rs)
    if not proxied and ttl != rs.ttl:
        # Chosen over refusing: a switch must not stop at `lower-ttl` because a planned TTL
        # is below Cloudflare's floor. The warning shows in preview; effective_ttl() tells
        # the sequencer what is really served.
        pulumi.log.warn(
            f"{rs.key}: TTL {rs.ttl}s is outside Cloudflare's {CLOUDFLARE_MIN_TTL}..{CLOUDFLARE_MAX_TTL}s;"
            f" {ttl}s is used"
        )
    resources: list[pulumi.CustomResource] = []
    for value in rs.values:
        name = rs.key if rs.type in CLOUDFLARE_SINGLE_VALUE else f"{rs.key}#{value}"
        resources.append(
            pulumi_cloudflare.DnsRecord(
                name,
                zone_id=settings["zoneId"],
                name=rs.name,  # the full name: the API returns it so, and a short one would diff
                type=rs.type,
                ttl=ttl,
                content=_cloudflare_value(rs.type, value),
                proxied=proxied,
                opts=opts,
            )
        )
    return resources


def _cloudflare_proxied(zone: ZoneLike, rs: RecordSet) -> bool:
    # Only A/AAAA/CNAME can be proxied; a TXT asked to be would be refused by the API.
    if rs.type not in CLOUDFLARE_PROXIABLE:
        return False
    return _bool(zone, zone.settings, "proxied") if "proxied" in zone.settings else False


def _cloudflare_value(rtype: str, value: str) -> str:
    # Cloudflare API (TXTRecord.content): "must consist of quoted character strings
    # (RFC 1035), each with a length of up to 255 bytes"; it splits longer ones itself and
    # then returns the split form, so we send that form to avoid a perpetual diff.
    # CNAME content goes without the trailing dot, as the API returns it.
    if rtype == "TXT":
        return _quoted_txt(value)
    return value


# --- shared -----------------------------------------------------------------------------

_Builder = Callable[[ZoneLike, RecordSet, pulumi.ResourceOptions | None], list[pulumi.CustomResource]]
_BUILDERS: dict[str, _Builder] = {
    ROUTE53: route53_records,
    CLOUDDNS: clouddns_record_sets,
    CLOUDFLARE: cloudflare_records,
}

_ROUTE53_ZONE_FIX = (
    "set it to the hosted zone's id, e.g. `hostedZoneId: Z0123456789ABCDEFGHIJ`; find it with "
    "`aws route53 list-hosted-zones-by-name --dns-name {zone}` (Id, without `/hostedzone/`)"
)
_CLOUDDNS_ZONE_FIX = (
    "set it to the managed zone's name (not its DNS name), e.g. `managedZone: example-com`; find it with "
    "`gcloud dns managed-zones list --filter='dnsName={zone}.'`"
)
_CLOUDFLARE_ZONE_FIX = (
    "set it to the zone's id, e.g. `zoneId: 023e105f4ecef8ad9ca31a8372d0c353`; find it on the zone's "
    "Overview page in the Cloudflare dashboard (API section, Zone ID) or with "
    "`curl -H 'Authorization: Bearer $CLOUDFLARE_API_TOKEN' "
    "'https://api.cloudflare.com/client/v4/zones?name={zone}'`"
)


def _settings(zone: ZoneLike, *, required: Mapping[str, str], optional: set[str]) -> Mapping[str, Any]:
    """The zone's settings, checked: required keys present, no unknown keys (typos)."""
    settings = zone.settings
    prefix = f"orchestrator:topology.zones[{zone.name}].settings"
    for key, fix in required.items():
        if not _str_or_none(settings.get(key)):
            raise ConfigError(
                f"{prefix}.{key}",
                f"a {zone.provider} zone needs `{key}` (a non-empty string) to know where its records go",
                fix.format(zone=zone.name),
            )
    known = set(required) | optional
    for key in sorted(set(settings) - known):
        why = f"`{key}` is not a {zone.provider} setting (known: {', '.join(sorted(known))})"
        if zone.provider == ROUTE53 and key == "region":
            # pulumi_aws 7 has a per-resource `region` only on regional resources; Route 53
            # is global and route53.Record has none. Ignoring it silently would mislead.
            why = "Route 53 is global: a record has no region (pulumi_aws.route53.Record takes none)"
        raise ConfigError(
            f"{prefix}.{key}",
            why,
            "remove it; credentials and the provider's region come from the provider's own "
            "configuration (see docs/cloud-providers.md)",
        )
    return settings


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _str(zone: ZoneLike, settings: Mapping[str, Any], key: str) -> str:
    value = _str_or_none(settings[key])
    if value is None:
        raise ConfigError(
            f"orchestrator:topology.zones[{zone.name}].settings.{key}",
            "must be a non-empty string",
            f"set `{key}` to a string or remove it",
        )
    return value


def _bool(zone: ZoneLike, settings: Mapping[str, Any], key: str) -> bool:
    value = settings[key]
    if not isinstance(value, bool):
        raise ConfigError(
            f"orchestrator:topology.zones[{zone.name}].settings.{key}",
            f"must be true or false, got {value!r}",
            f"write `{key}: true` or `{key}: false` (YAML booleans, unquoted)",
        )
    return value


def _check_record_set(rs: RecordSet) -> None:
    # The planning core never produces these; failing loudly beats writing a broken record.
    if rs.type not in SUPPORTED_TYPES:
        raise ValueError(f"{rs.key}: record type {rs.type} is not supported ({', '.join(SUPPORTED_TYPES)})")
    if not rs.values:
        raise ValueError(f"{rs.key}: a record set without values cannot be published")


def _dot(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _txt_strings(text: str) -> list[str]:
    """`text` as escaped character-strings (orchestrator.domain.values.txt_strings).

    Only printable ASCII is accepted: our TXT values are labels, group names and addresses,
    and the clouds disagree on escapes beyond it (Route 53 wants octal `\\ooo`, RFC 1035
    decimal `\\ddd`).
    """
    if any(not (0x20 <= ord(ch) <= 0x7E) for ch in text):
        raise ValueError(f"TXT value {text!r} has characters outside printable ASCII")
    return txt_strings(text)


def _quoted_txt(text: str) -> str:
    """Zone-file form: `"abc"`, or `"first 255" "rest"` for long values."""
    return " ".join(f'"{c}"' for c in _txt_strings(text))
