"""The demotion token: what a cleanly demoted primary hands to the standby it promotes. Pure.

Like CloudNativePG's, it is base64 of JSON with the demoted cluster's final position: the
shutdown checkpoint's LSN and timeline, and the system identifier (a token from another
database lineage is refused). A standby may only be promoted once it has replayed past it:
then every write the old primary committed is on the new one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass

from orchestrator.adapters.postgres.pg import lsn_int


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class DemotionToken:
    group: str
    lsn: str
    timeline: int
    system_identifier: str

    @property
    def position(self) -> int:
        return lsn_int(self.lsn) or 0

    def encode(self) -> str:
        raw = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return base64.b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, text: str) -> DemotionToken:
        try:
            doc = json.loads(base64.b64decode(text.encode(), validate=True))
            token = cls(
                str(doc["group"]), str(doc["lsn"]), int(doc["timeline"]), str(doc["system_identifier"])
            )
            lsn_int(token.lsn)
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError(f"not a demotion token ({exc})") from exc
        return token


def newest(tokens: list[str], system_identifier: str) -> DemotionToken | None:
    """The latest demotion of this lineage among the peers' tokens (older ones are history)."""
    found = []
    for text in tokens:
        if not text:
            continue
        token = DemotionToken.decode(text)
        if token.system_identifier == system_identifier:
            found.append(token)
    return max(found, key=lambda t: (t.timeline, t.position), default=None)
