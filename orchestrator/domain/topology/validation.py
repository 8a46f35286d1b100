"""Validation of a stack's topology, building the model (orchestrator.domain.topology.model).

The topology arrives as the already-parsed value of `orchestrator:topology` (plain dicts
and lists). Validation runs before anything else and collects every problem, each
naming its exact config key, the reason and the fix, so that a user fixes the whole file
in one go and a bad file changes nothing. The rules and their messages are documented
in docs/topology.md; keep the two in step.

Longer than ~400 lines on purpose: one loader walks the whole config in one pass so that
every problem is collected with its key, and its methods follow docs/topology.md's order
of rules; split apart they would each need the loader's problem list and known names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from orchestrator.domain.config_keys import ACTIVE_KEY, TOPOLOGY_KEY
from orchestrator.domain.databases import parse_databases
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.kuadrant import (
    REGISTRY_PREFIX,
    WILDCARD_REPLACEMENT,
    FormatError,
    parse_active_groups_txt,
    registry_txt_name,
)
from orchestrator.domain.names import (
    MAX_LABEL,
    MAX_NAME,
    canonical_ipv4,
    canonical_ipv6,
    name_problem,
    normalise_name,
)
from orchestrator.domain.providers import PROVIDERS
from orchestrator.domain.topology.model import (
    DEFAULT_TTL,
    ENDPOINT_KEYS,
    FORBIDDEN_IN_IDS,
    GROUP_KEYS,
    GROUP_NAME_MAX,
    HEALTH_KEYS,
    HEALTH_SCHEMES,
    MAX_TTL,
    OWNER_MAX,
    TOPOLOGY_KEYS,
    ZONE_KEYS,
    Endpoint,
    Group,
    Health,
    Topology,
    TopologyError,
    Zone,
    zone_for,
)

# --- public API -------------------------------------------------------------------------

_UNSET: Any = object()


def load_topology(config: Mapping[str, Any], *, active: Any = _UNSET) -> Topology:
    """Validates `orchestrator:topology` (and, when given, `orchestrator:activeGroups`).

    `active` is the raw active-groups value; pass it (even None) to have it checked
    against the groups. Raises TopologyError listing every problem.
    """
    loader = _Loader()
    topology = loader.topology(config)
    if active is not _UNSET and topology is not None:
        # Groups with problems of their own still count as known: no second, misleading error.
        active_set = _check_active(loader, topology.groups, loader.group_names, active, ACTIVE_KEY)
        topology = Topology(
            zones=topology.zones,
            groups=topology.groups,
            ttl=topology.ttl,
            active_groups=active_set,
            databases=topology.databases,
        )
    if loader.problems:
        raise TopologyError(loader.problems)
    assert topology is not None
    return topology


def parse_active_groups(value: Any) -> tuple[str, ...]:
    """The active set from config: a list of names, or a string (Kuadrant's
    `version=1;groups=a&&b`, or names separated by `&&`, `,` or spaces).

    Returns names sorted and unique (the canonical order, as Kuadrant writes it). Raises
    TopologyError when missing, empty or not a list/string; whether the names exist is
    checked by load_topology / check_active_groups.
    """
    loader = _Loader()
    names = loader.active_names(value, ACTIVE_KEY)
    if loader.problems:
        raise TopologyError(loader.problems)
    return names


def check_active_groups(topology: Topology, active: Any, key: str = ACTIVE_KEY) -> tuple[str, ...]:
    """The canonical active set for `topology`; raises TopologyError if it cannot be published."""
    loader = _Loader()
    names = _check_active(loader, topology.groups, set(topology.group_names), active, key)
    if loader.problems:
        raise TopologyError(loader.problems)
    return names


def group_name_problem(name: Any) -> str | None:
    """Why `name` cannot be a group name (DESIGN.md and Kuadrant types/group.go), or None."""
    if not isinstance(name, str):
        return f"a group name must be text, not {type(name).__name__}"
    if not name:
        return "the group name is empty"
    if len(name) > GROUP_NAME_MAX:
        return f"the group name '{name}' has {len(name)} characters; at most {GROUP_NAME_MAX} are allowed"
    return _id_chars_problem(name, "group name")


# --- validation -------------------------------------------------------------------------


def _id_chars_problem(value: str, what: str) -> str | None:
    bad = sorted({c for c in value if c in FORBIDDEN_IN_IDS or not c.isprintable() or c.isspace()})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"the {what} '{value}' contains {shown}; none of ; & , \" ' = or whitespace may appear"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Loader:
    """Walks the config once, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[ConfigError] = []
        self.group_names: set[str] = set()

    def add(self, key: str, why: str, fix: str) -> None:
        self.problems.append(ConfigError(key, why, fix))

    def unknown_keys(self, raw: Mapping[str, Any], known: Sequence[str], key: str) -> None:
        for k in raw:
            if k not in known:
                self.add(
                    f"{key}.{k}",
                    f"unknown key '{k}'",
                    f"remove it, or use one of: {', '.join(known)} (docs/topology.md)",
                )

    def ttl(self, value: Any, key: str) -> int | None:
        if _is_int(value) and 1 <= value <= MAX_TTL:
            return value
        self.add(key, f"TTL {value!r} is not a whole number of seconds from 1 to {MAX_TTL}", "e.g. `ttl: 60`")
        return None

    # topology -----------------------------------------------------------------------

    def topology(self, raw: Any) -> Topology | None:
        if not isinstance(raw, Mapping):
            self.add(
                TOPOLOGY_KEY,
                f"must be a mapping with zones and groups, not {type(raw).__name__}",
                "see the example in docs/topology.md",
            )
            return None
        self.unknown_keys(raw, TOPOLOGY_KEYS, TOPOLOGY_KEY)
        ttl = DEFAULT_TTL
        if "ttl" in raw:
            ttl = self.ttl(raw["ttl"], f"{TOPOLOGY_KEY}.ttl") or DEFAULT_TTL
        zones = self.zones(raw.get("zones"))
        groups = self.groups(raw.get("groups"), zones, ttl)
        databases, problems = parse_databases(
            raw.get("databases"), [g.name for g in groups], f"{TOPOLOGY_KEY}.databases"
        )
        self.problems.extend(problems)
        return Topology(
            zones=tuple(zones),
            groups=tuple(sorted(groups, key=lambda g: g.name)),
            ttl=ttl,
            databases=databases,
        )

    # zones --------------------------------------------------------------------------

    def zones(self, raw: Any) -> list[Zone]:
        key = f"{TOPOLOGY_KEY}.zones"
        fix = "list the zones, e.g. `zones: [{name: app.example.test, provider: powerdns}]`"
        if raw is None:
            self.add(key, "missing: no zones are configured", fix)
            return []
        if not isinstance(raw, list):
            self.add(key, f"must be a list of zones, not {type(raw).__name__}", fix)
            return []
        if not raw:
            self.add(key, "the list of zones is empty", fix)
            return []
        zones: list[Zone] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            zone = self.zone(item, f"{key}[{i}]")
            if zone is None:
                continue
            if zone.name in seen:
                self.add(
                    f"{key}[{i}].name",
                    f"zone '{zone.name}' is listed twice (also zones[{seen[zone.name]}])",
                    "keep one entry per zone",
                )
                continue
            seen[zone.name] = i
            zones.append(zone)
        return zones

    def zone(self, raw: Any, key: str) -> Zone | None:
        if not isinstance(raw, Mapping):
            self.add(
                key,
                "a zone must be a mapping with name and provider",
                "e.g. `{name: app.example.test, provider: powerdns}`",
            )
            return None
        self.unknown_keys(raw, ZONE_KEYS, key)
        name_ok = True
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.add(f"{key}.name", "missing zone name", "add `name: <zone>` (e.g. app.example.test)")
            name_ok = False
        else:
            name = normalise_name(name)
            problem = name_problem(name)
            if problem:
                self.add(
                    f"{key}.name",
                    f"zone name '{name}' is not a DNS name: {problem}",
                    "use a name like app.example.test",
                )
                name_ok = False
        provider = raw.get("provider")
        if provider not in PROVIDERS:
            why = "missing provider" if provider is None else f"unknown provider {provider!r}"
            self.add(f"{key}.provider", why, f"use one of: {', '.join(PROVIDERS)}")
        settings = raw.get("settings", {})
        if settings is None:
            settings = {}
        if not isinstance(settings, Mapping):
            self.add(f"{key}.settings", "settings must be a mapping", "e.g. `settings: {server: dev}`")
            settings = {}
        if not name_ok:
            return None
        # A zone with a bad provider or settings is kept (the problem is recorded, so no
        # topology is returned): its hostnames must not also be reported as outside every zone.
        return Zone(name=name, provider=provider, settings=MappingProxyType(dict(settings)))

    # groups -------------------------------------------------------------------------

    def groups(self, raw: Any, zones: list[Zone], ttl: int) -> list[Group]:
        key = f"{TOPOLOGY_KEY}.groups"
        fix = "add `groups: {group-a: {endpoints: {...}}}` (docs/topology.md)"
        if raw is None:
            self.add(key, "missing: no groups are configured", fix)
            return []
        if not isinstance(raw, Mapping):
            self.add(key, f"must be a mapping of group name to group, not {type(raw).__name__}", fix)
            return []
        if not raw:
            self.add(key, "no groups are configured", fix)
            return []
        groups: list[Group] = []
        for name, body in raw.items():
            group = self.group(name, body, zones, ttl, f"{key}.{name}")
            if group is not None:
                groups.append(group)
        self.cross_group(groups, raw, key)
        return groups

    def group(self, name: Any, raw: Any, zones: list[Zone], ttl: int, key: str) -> Group | None:
        problem = group_name_problem(name)
        if problem:
            self.add(key, problem, f"rename the group: 1 to {GROUP_NAME_MAX} characters, e.g. group-a")
            return None
        self.group_names.add(name)
        no_endpoints = (
            f"{key}.endpoints",
            f"group '{name}' has no endpoints",
            "add at least one: `endpoints: {www.app.example.test: {a: [10.0.0.1]}}`",
        )
        if raw is None:
            self.add(*no_endpoints)
            return None
        if not isinstance(raw, Mapping):
            self.add(
                key,
                f"a group must be a mapping with endpoints, not {type(raw).__name__}",
                "see docs/topology.md",
            )
            return None
        self.unknown_keys(raw, GROUP_KEYS, key)
        owner = raw.get("owner", name)
        owner_ok = self.owner(owner, f"{key}.owner")
        endpoints_raw = raw.get("endpoints")
        if endpoints_raw is None or (isinstance(endpoints_raw, Mapping) and not endpoints_raw):
            self.add(*no_endpoints)
            return None
        if not isinstance(endpoints_raw, Mapping):
            self.add(
                f"{key}.endpoints",
                f"must be a mapping of hostname to endpoint, not {type(endpoints_raw).__name__}",
                "e.g. `endpoints: {www.app.example.test: {a: [10.0.0.1]}}`",
            )
            return None
        endpoints: dict[str, Endpoint] = {}
        first_key: dict[str, str] = {}
        for host, body in endpoints_raw.items():
            ekey = f"{key}.endpoints.{host}"
            ep = self.endpoint(host, body, zones, ttl, ekey, owner if owner_ok else name)
            if ep is None:
                continue
            if ep.hostname in endpoints:
                self.add(
                    ekey,
                    f"'{host}' is the same name as '{first_key[ep.hostname]}' (names are case-insensitive)",
                    "merge the two entries into one",
                )
                continue
            endpoints[ep.hostname] = ep
            first_key[ep.hostname] = str(host)
        if not owner_ok:
            return None
        return Group(name=name, owner=owner, endpoints=tuple(endpoints[h] for h in sorted(endpoints)))

    def owner(self, owner: Any, key: str) -> bool:
        fix = f"use a registry owner id of 1 to {OWNER_MAX} characters without ; & , \" ' = or spaces"
        if not isinstance(owner, str) or not owner:
            self.add(key, f"owner must be non-empty text, not {owner!r}", fix)
            return False
        if len(owner) > OWNER_MAX:
            self.add(
                key, f"owner '{owner}' has {len(owner)} characters; at most {OWNER_MAX} are allowed", fix
            )
            return False
        problem = _id_chars_problem(owner, "owner")
        if problem:
            self.add(key, problem, fix)
            return False
        return True

    # endpoints ----------------------------------------------------------------------

    def endpoint(
        self, host: Any, raw: Any, zones: list[Zone], ttl: int, key: str, owner: str
    ) -> Endpoint | None:
        hostname = self.hostname(host, zones, key)
        if not isinstance(raw, Mapping):
            self.add(key, "an endpoint must be a mapping with a, aaaa or cname", "e.g. `{a: [10.0.0.1]}`")
            return None
        self.unknown_keys(raw, ENDPOINT_KEYS, key)
        a = self.addresses(raw, "a", key, canonical_ipv4, "an IPv4 address such as 10.0.0.1")
        aaaa = self.addresses(raw, "aaaa", key, canonical_ipv6, "an IPv6 address such as 2001:db8::1")
        cname = self.cname(raw, key, hostname)
        ok = a is not None and aaaa is not None and cname is not False
        if "cname" in raw and ("a" in raw or "aaaa" in raw):
            self.add(
                key,
                "a name with a CNAME can have no A or AAAA records (RFC 1034)",
                "keep either `cname:` or `a:`/`aaaa:` for this name",
            )
            ok = False
        if not any(k in raw for k in ("a", "aaaa", "cname")):
            self.add(key, "the endpoint has no targets", "add `a: [...]`, `aaaa: [...]` or `cname: <name>`")
            ok = False
        ep_ttl = ttl
        if "ttl" in raw:
            checked = self.ttl(raw["ttl"], f"{key}.ttl")
            ok = ok and checked is not None
            ep_ttl = checked or ttl
        weight = raw.get("weight")
        if weight is not None and not (_is_int(weight) and weight >= 0):
            self.add(f"{key}.weight", f"weight {weight!r} is not a whole number >= 0", "e.g. `weight: 100`")
            ok = False
        health = self.health(raw.get("health"), f"{key}.health") if "health" in raw else None
        if "health" in raw and health is None:
            ok = False
        if hostname is None or not ok:
            return None
        zone = zone_for(hostname, zones)
        if zone is None:
            return None
        ep = Endpoint(
            hostname=hostname,
            zone=zone.name,
            ttl=ep_ttl,
            a=a or (),
            aaaa=aaaa or (),
            cname=cname or None,
            health=health,
            weight=weight,
        )
        if ep.cname and hostname == zone.name:
            self.add(
                key,
                f"'{hostname}' is the zone apex, where a CNAME is not allowed (SOA and NS live there)",
                "use A/AAAA records at the apex",
            )
            return None
        return ep if self.registry_name_fits(ep, owner, key) else None

    def hostname(self, host: Any, zones: list[Zone], key: str) -> str | None:
        if not isinstance(host, str):
            self.add(key, f"a hostname must be text, not {type(host).__name__}", "quote the hostname")
            return None
        name = normalise_name(host)
        problem = name_problem(name, wildcard=True)
        if problem:
            self.add(
                key,
                f"'{host}' is not a valid hostname: {problem}",
                "use a name like www.app.example.test or *.app.example.test",
            )
            return None
        first = name.split(".", 1)[0]
        if first.startswith(REGISTRY_PREFIX):  # also covers kuadrant-active-groups
            self.add(
                key,
                f"names starting with '{REGISTRY_PREFIX}' are reserved for Kuadrant's registry and "
                "active-groups records",
                "choose another name",
            )
            return None
        if zones and zone_for(name, zones) is None:
            self.add(
                key,
                f"'{name}' is outside every configured zone ({', '.join(z.name for z in zones)})",
                "add its zone under `zones`, or fix the hostname",
            )
            return None
        return name

    def addresses(
        self, raw: Mapping[str, Any], field_: str, key: str, parse: Any, example: str
    ) -> tuple[str, ...] | None:
        """Canonical targets of `a`/`aaaa` (empty tuple when absent), None after a problem."""
        if field_ not in raw:
            return ()
        value = raw[field_]
        fkey = f"{key}.{field_}"
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.add(
                fkey,
                f"`{field_}` must be a non-empty list of addresses",
                f"e.g. `{field_}: [{example.split()[-1]}]`",
            )
            return None
        out: list[str] = []
        seen: dict[str, int] = {}
        ok = True
        for i, item in enumerate(value):
            ikey = f"{fkey}[{i}]"
            try:
                if not isinstance(item, str):
                    raise ValueError(item)
                target = parse(item)
            except ValueError:
                self.add(ikey, f"{item!r} is not {example}", f"write {example}")
                ok = False
                continue
            if target in seen:
                self.add(
                    ikey, f"{target} is listed twice (also {field_}[{seen[target]}])", "remove the duplicate"
                )
                ok = False
                continue
            seen[target] = i
            out.append(target)
        return tuple(sorted(out)) if ok else None

    def cname(self, raw: Mapping[str, Any], key: str, hostname: str | None) -> str | None | bool:
        """The canonical CNAME target, None when absent, False after a problem."""
        if "cname" not in raw:
            return None
        value = raw["cname"]
        ckey = f"{key}.cname"
        if not isinstance(value, str):
            self.add(
                ckey,
                "a CNAME has exactly one target name",
                "write `cname: target.example.net` (one name, not a list)",
            )
            return False
        target = normalise_name(value)
        problem = name_problem(target)
        if problem:
            self.add(ckey, f"{value!r} is not a hostname: {problem}", "write `cname: target.example.net`")
            return False
        if target == hostname:
            self.add(ckey, "the CNAME points to itself", "point it at another name")
            return False
        return target

    def health(self, raw: Any, key: str) -> Health | None:
        fix = "e.g. `health: {port: 18080, path: /healthz, scheme: http}`"
        if not isinstance(raw, Mapping):
            self.add(key, "health must be a mapping with port, path and scheme", fix)
            return None
        self.unknown_keys(raw, HEALTH_KEYS, key)
        ok = not any(k not in HEALTH_KEYS for k in raw)
        port = raw.get("port")
        if not (_is_int(port) and 1 <= port <= 65535):
            self.add(f"{key}.port", f"port {port!r} is not a number from 1 to 65535", fix)
            ok = False
        path = raw.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
            self.add(f"{key}.path", f"path {path!r} must start with / and contain no spaces", fix)
            ok = False
        scheme = raw.get("scheme", "http")
        if scheme not in HEALTH_SCHEMES:
            self.add(f"{key}.scheme", f"scheme {scheme!r} is not http or https", fix)
            ok = False
        return Health(port=port, path=path, scheme=scheme) if ok else None

    def registry_name_fits(self, ep: Endpoint, owner: str, key: str) -> bool:
        """The registry TXT name (`kuadrant-<hash>-<type>-<host>`) must itself be a valid DNS name."""
        for rtype, _ in sorted(ep.records(), key=lambda r: -len(r[0])):
            txt = registry_txt_name(owner, rtype, ep.hostname)
            first = txt.split(".", 1)[0]
            if len(first) > MAX_LABEL:
                room = MAX_LABEL - (len(first) - len(ep.hostname.split(".", 1)[0]))
                fix = f"shorten the hostname: its first label may have at most {room} characters for {rtype}"
            elif len(txt) > MAX_NAME:
                room = MAX_NAME - (len(txt) - len(ep.hostname))
                fix = f"shorten the hostname: it may have at most {room} characters for {rtype}"
            else:
                continue
            self.add(
                key,
                f"the registry record name {txt} would be longer than DNS allows "
                f"(labels {MAX_LABEL}, names {MAX_NAME} characters)",
                fix,
            )
            return False
        return True

    # across groups ------------------------------------------------------------------

    def cross_group(self, groups: list[Group], raw: Mapping[Any, Any], key: str) -> None:
        """Rules that hold for the union of groups: record sets merge every group's targets."""
        raw_hosts = {
            (g.name, normalise_name(h)): h
            for g in groups
            for h in (raw[g.name].get("endpoints") or {})
            if isinstance(h, str)
        }

        def ekey(group: str, host: str) -> str:
            return f"{key}.{group}.endpoints.{raw_hosts.get((group, host), host)}"

        owners: dict[str, str] = {}
        for g in sorted(groups, key=lambda g: g.name):
            if g.owner in owners:
                self.add(
                    f"{key}.{g.name}.owner",
                    f"owner '{g.owner}' is also the owner of group '{owners[g.owner]}'; "
                    "registry records are per owner, so two groups would overwrite each other's",
                    "give each group its own owner id (the default is the group name)",
                )
            else:
                owners[g.owner] = g.name

        kinds: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        owner_of: dict[tuple[str, str, str], str] = {}
        for g in sorted(groups, key=lambda g: g.name):
            for ep in g.endpoints:
                kinds[ep.hostname]["cname" if ep.cname else "address"].append(g.name)
                for rtype, targets in ep.records():
                    for t in targets:
                        other = owner_of.setdefault((ep.hostname, rtype, t), g.name)
                        if other != g.name:
                            self.add(
                                f"{ekey(g.name, ep.hostname)}.{rtype.lower()}",
                                f"{t} is also a target of {ep.hostname} in group '{other}'; "
                                "the registry records exactly one owner group per target",
                                "give each group its own targets for this name",
                            )
        for host, by_kind in sorted(kinds.items()):
            if by_kind["cname"] and by_kind["address"]:
                self.add(
                    ekey(by_kind["cname"][0], host),
                    f"{host} is a CNAME in {', '.join(by_kind['cname'])} but has A/AAAA records in "
                    f"{', '.join(by_kind['address'])}; record sets are the union of the groups, and a "
                    "name with a CNAME can have no other records",
                    "use the same kind of record (CNAME, or A/AAAA) for this name in every group",
                )
        hosts = set(kinds)
        for host in sorted(hosts):
            if host.startswith("*."):
                literal = WILDCARD_REPLACEMENT + host[1:]
                if literal in hosts:
                    self.add(
                        f"{key}",
                        f"{host} and {literal} would share registry record names (Kuadrant writes `*` as "
                        f"'{WILDCARD_REPLACEMENT}' there)",
                        f"rename {literal}",
                    )

    # active groups ------------------------------------------------------------------

    def active_names(self, value: Any, key: str) -> tuple[str, ...]:
        fix = f"set {ACTIVE_KEY} to a list of group names, e.g. `[group-a]`"
        before = len(self.problems)
        if value is None:
            self.add(key, "no active groups are configured", fix)
            return ()
        names: list[str] = []
        if isinstance(value, str):
            if "=" in value:
                try:
                    names = list(parse_active_groups_txt(value))
                except FormatError as exc:
                    self.add(key, str(exc), fix)
                    return ()
            else:
                for sep in ("&&", ","):
                    value = value.replace(sep, " ")
                names = value.split()
            bad = [n for n in names if group_name_problem(n)]
            for name in bad:
                self.add(key, str(group_name_problem(name)), fix)
            names = [n for n in names if n not in bad]
        elif isinstance(value, list | tuple):
            for i, name in enumerate(value):
                problem = group_name_problem(name)
                if problem:
                    self.add(f"{key}[{i}]", problem, fix)
                else:
                    names.append(name)
        else:
            self.add(key, f"must be a list of group names, not {type(value).__name__}", fix)
            return ()
        if not names and len(self.problems) == before:
            self.add(key, "the active set is empty: nothing would be published", fix)
        return tuple(sorted(set(names)))


def _check_active(
    loader: _Loader, groups: Iterable[Group], known: set[str], value: Any, key: str
) -> tuple[str, ...]:
    before = len(loader.problems)
    names = loader.active_names(value, key)
    if len(loader.problems) > before:
        return names
    listed = list(value) if isinstance(value, list | tuple) else None
    for name in names:
        if name not in known:
            where = f"{key}[{listed.index(name)}]" if listed and name in listed else key
            loader.add(
                where,
                f"unknown group '{name}'",
                f"use one of the configured groups: {', '.join(sorted(known)) or '(none)'}",
            )
    active = [g for g in groups if g.name in names]
    cnames: dict[str, dict[str, str]] = defaultdict(dict)
    for g in active:
        for ep in g.endpoints:
            if ep.cname:
                cnames[ep.hostname][g.name] = ep.cname
    for host, by_group in sorted(cnames.items()):
        if len(by_group) > 1:
            loader.add(
                key,
                f"groups {', '.join(sorted(by_group))} are all active and each has a CNAME for {host}; "
                "a name can have only one CNAME",
                "activate only one of these groups, or publish A/AAAA records for this name",
            )
    return names
