"""A small client for the PowerDNS Authoritative HTTP API (record sets only)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.adapters.dns.errors import CredentialsRejected, ProviderError, ServerUnreachable
from orchestrator.domain.values import canonical, fqdn, from_zone_text, to_zone_text

if TYPE_CHECKING:  # imported where used: the program, which only declares record sets, skips its ~5 MB
    import requests

# A change of one record set: ("replace", name, type, ttl, values) or ("delete", name, type, 0, ()).
Change = tuple[str, str, str, int, Sequence[str]]
# What a zone serves: (name, type) -> (ttl, canonical values); names without the trailing dot.
ZoneContent = dict[tuple[str, str], tuple[int, list[str]]]

# Pulumi runs resource operations in parallel inside one provider process. PowerDNS
# serialises writes per zone anyway, and its sqlite3 backend answers a concurrent write
# with "database is locked" (HTTP 500) instead of waiting: writes to one server go one
# at a time, and a locked database is retried briefly.
_WRITE_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_LOCKED_RETRIES = 20
_LOCKED_BACKOFF = 0.05


@dataclass(frozen=True)
class PowerDNSClient:
    api_url: str  # e.g. http://127.0.0.1:8081
    api_key: str
    server_id: str = "localhost"
    timeout: float = 10.0

    def _url(self, path: str) -> str:
        return f"{self.api_url.rstrip('/')}/api/v1/servers/{self.server_id}{path}"

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        import requests

        try:
            resp = requests.request(
                method, self._url(path), headers={"X-API-Key": self.api_key}, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise ServerUnreachable(
                f"PowerDNS API at {self.api_url} is unreachable",
                f"{type(exc).__name__}: {exc}",
                "start the server (`orchestrator dev up` for the local environment) or fix the zone's "
                "apiUrl setting in the stack config, then run again",
            ) from exc
        if resp.status_code in (401, 403):
            raise CredentialsRejected(
                f"PowerDNS API at {self.api_url} refused the API key (HTTP {resp.status_code})",
                "the key sent does not match the server's api-key",
                "set POWERDNS_API_KEY to the server's key (for the local environment unset it: the key "
                "in .dev/secrets is used), then run again",
            )
        return resp

    def _fail(self, resp: requests.Response, action: str) -> ProviderError:
        try:
            detail = resp.json().get("error", resp.text)
        except ValueError:
            detail = resp.text
        return ProviderError(
            f"PowerDNS at {self.api_url} failed to {action} (HTTP {resp.status_code})",
            str(detail).strip(),
            "fix what the server reports (zone missing? malformed value?) and run again",
        )

    def check_zone(self, zone: str) -> None:
        """Fails clearly when the server is down, the key is wrong or the zone is missing."""
        resp = self._request("GET", f"/zones/{fqdn(zone)}", params={"rrsets": "false"})
        if resp.status_code == 404:
            raise ProviderError(
                f"zone {zone} does not exist on PowerDNS at {self.api_url}",
                "record sets can only be managed inside an existing zone",
                f"create the zone (pdnsutil create-zone {zone}) or fix the zone name in the stack config",
            )
        if resp.status_code >= 300:
            raise self._fail(resp, f"read zone {zone}")

    def get_rrset(self, zone: str, name: str, rtype: str) -> tuple[int, list[str]] | None:
        resp = self._request(
            "GET", f"/zones/{fqdn(zone)}", params={"rrset_name": fqdn(name), "rrset_type": rtype}
        )
        if resp.status_code == 404:
            return None
        if resp.status_code >= 300:
            raise self._fail(resp, f"read {name} {rtype}")
        for rrset in resp.json().get("rrsets", []):
            if rrset["name"].lower() == fqdn(name).lower() and rrset["type"] == rtype:
                values = [from_zone_text(rtype, r["content"]) for r in rrset["records"] if not r["disabled"]]
                return int(rrset["ttl"]), canonical(rtype, values)
        return None

    def _patch(self, zone: str, rrsets: list[dict], action: str) -> None:
        with _WRITE_LOCKS[self.api_url]:
            for attempt in range(_LOCKED_RETRIES):
                resp = self._request("PATCH", f"/zones/{fqdn(zone)}", json={"rrsets": rrsets})
                if resp.status_code != 500 or "database is locked" not in resp.text:
                    break
                time.sleep(_LOCKED_BACKOFF * (attempt + 1))
        if resp.status_code >= 300:
            raise self._fail(resp, action)

    @staticmethod
    def _rrset(change: Change) -> dict:
        op, name, rtype, ttl, values = change
        if op == "delete":
            return {"name": fqdn(name), "type": rtype, "changetype": "DELETE"}
        records = [{"content": to_zone_text(rtype, v), "disabled": False} for v in canonical(rtype, values)]
        return {"name": fqdn(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE", "records": records}

    def replace_rrset(self, zone: str, name: str, rtype: str, ttl: int, values: list[str]) -> None:
        """One atomic REPLACE: the name never resolves to nothing in between."""
        self.apply(zone, [("replace", name, rtype, ttl, values)])

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        self.apply(zone, [("delete", name, rtype, 0, ())])

    def apply(self, zone: str, changes: Sequence[Change]) -> None:
        """Every change in one PATCH, which PowerDNS applies in one transaction (all or none)."""
        if not changes:
            return
        if len(changes) == 1:
            op, name, rtype = changes[0][:3]
            action = f"{op} {name} {rtype}"
        else:
            action = f"apply {len(changes)} record-set changes to zone {zone}"
        self._patch(zone, [self._rrset(c) for c in changes], action)

    def read_zone(self, zone: str) -> ZoneContent:
        """Every record set of the zone in one GET (what a refresh and `status` read)."""
        resp = self._request("GET", f"/zones/{fqdn(zone)}")
        if resp.status_code == 404:
            raise ProviderError(
                f"zone {zone} does not exist on PowerDNS at {self.api_url}",
                "record sets can only be read inside an existing zone",
                f"create the zone (pdnsutil create-zone {zone}) or fix the zone name in the stack config",
            )
        if resp.status_code >= 300:
            raise self._fail(resp, f"read zone {zone}")
        out: ZoneContent = {}
        for rrset in resp.json().get("rrsets", []):
            rtype = str(rrset["type"])
            values = [from_zone_text(rtype, r["content"]) for r in rrset["records"] if not r["disabled"]]
            if values:
                out[(str(rrset["name"]).rstrip(".").lower(), rtype)] = (
                    int(rrset["ttl"]),
                    canonical(rtype, values),
                )
        return out
