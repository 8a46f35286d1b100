"""The DNS provider names a zone's `provider:` may take (docs/topology.md).

Only the names: which adapter serves each one, and which are local (the orchestrator's own
provider plugin) or cloud (Pulumi packages), is said once, by
orchestrator/adapters/dns/registry.py, which checks that it covers exactly these.
"""

from __future__ import annotations

POWERDNS = "powerdns"
RFC2136 = "rfc2136"
ROUTE53 = "route53"
CLOUDDNS = "clouddns"
CLOUDFLARE = "cloudflare"
PROVIDERS: tuple[str, ...] = (POWERDNS, RFC2136, ROUTE53, CLOUDDNS, CLOUDFLARE)
