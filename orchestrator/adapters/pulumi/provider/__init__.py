"""The project's own Pulumi provider plugin (`pulumi-resource-orchestrator`).

It serves the project's typed resources, `orchestrator:dns:RecordSet` (one DNS record set
on PowerDNS or an RFC 2136 server) and `orchestrator:database:Primary` (one side of a
local database pair), in one process started by the Pulumi engine. Concurrent writes to a
zone are batched into one PowerDNS PATCH or one RFC 2136 UPDATE message, and a refresh
reads each zone once (docs/engine.md). The program declares the resources with the small
classes in `resources.py`; the plugin itself is `server.py`.
"""

from __future__ import annotations

PACKAGE = "orchestrator"
RECORD_SET_TYPE = "orchestrator:dns:RecordSet"
PRIMARY_TYPE = "orchestrator:database:Primary"
# The type every resource of the previous version had (Pulumi dynamic providers).
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
