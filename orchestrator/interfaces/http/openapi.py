"""The OpenAPI document of `orchestrator serve` (served at /openapi.json, committed as
docs/openapi.json; a unit test keeps the two identical).
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.domain.health import CHECKS, CONDITION_STATUSES, CONDITION_TYPE, STATUSES

API_VERSION = "1.0.0"
GROUP_PATTERN = "^[^;&,\"'= ]{1,16}$"
MAX_GROUPS = 16

_STRINGS = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_response(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string", "description": "What failed."},
            "why": {"type": "string"},
            "fix": {"type": "string"},
            "status": {"type": "integer"},
        },
    },
    "DryRunRequest": {
        "type": "object",
        "required": ["to_groups"],
        "additionalProperties": False,
        "properties": {
            "to_groups": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_GROUPS,
                "items": {"type": "string", "pattern": GROUP_PATTERN},
                "description": "The active set after the switch (as `switch --to G` repeated).",
            },
            "mode": {
                "type": "string",
                "enum": ["planned", "failover"],
                "default": "planned",
                "description": "failover: the active group is down and is not asked to step back.",
            },
        },
        "example": {"to_groups": ["group-b"]},
    },
    "EndpointChange": {
        "type": "object",
        "required": ["action", "zone", "name", "type", "current", "new"],
        "properties": {
            "action": {"type": "string", "enum": ["CREATE", "MODIFY", "DELETE"]},
            "zone": {"type": "string"},
            "name": {"type": "string"},
            "type": {"type": "string"},
            "current": _STRINGS,
            "new": _STRINGS,
        },
    },
    "PlannedStep": {
        "type": "object",
        "required": ["name", "expected_seconds"],
        "properties": {
            "name": {"type": "string"},
            "expected_seconds": {"type": "number"},
            "skipped": _NULLABLE_STRING,
        },
    },
    "DryRunReport": {
        "type": "object",
        "description": "The same report as `orchestrator switch --to G --dry-run --json`.",
        "required": [
            "stack",
            "kind",
            "mode",
            "from_groups",
            "to_groups",
            "changes",
            "blockers",
            "warnings",
            "steps",
            "fingerprint",
            "noop",
            "expected_seconds",
        ],
        "properties": {
            "stack": {"type": "string"},
            "kind": {"type": "string"},
            "mode": {"type": "string", "enum": ["planned", "failover"]},
            "from_groups": _STRINGS,
            "to_groups": _STRINGS,
            "changes": {"type": "array", "items": {"$ref": "#/components/schemas/EndpointChange"}},
            "blockers": _STRINGS,
            "warnings": _STRINGS,
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/PlannedStep"}},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "noop": {"type": "boolean"},
            "expected_seconds": {"type": "number"},
            "databases": {
                "type": "array",
                "description": "Database primaries that change group (present only when some do).",
                "items": {
                    "type": "object",
                    "required": ["pair", "from_group", "to_group"],
                    "properties": {
                        "pair": {"type": "string"},
                        "from_group": _NULLABLE_STRING,
                        "to_group": _NULLABLE_STRING,
                    },
                },
            },
        },
    },
    "Condition": {
        "type": "object",
        "required": ["type", "status", "reason", "message"],
        "properties": {
            "type": {"type": "string", "enum": [CONDITION_TYPE]},
            "status": {"type": "string", "enum": list(CONDITION_STATUSES)},
            "reason": {"type": "string"},
            "message": {"type": "string", "description": "One line."},
            "lastTransitionTime": _NULLABLE_STRING,
            "switchId": _NULLABLE_STRING,
            "checkedAt": _NULLABLE_STRING,
        },
    },
    "CheckResult": {
        "type": "object",
        "required": ["name", "status", "summary"],
        "properties": {
            "name": {"type": "string", "enum": list(CHECKS)},
            "status": {"type": "string", "enum": list(STATUSES)},
            "summary": {"type": "string"},
            "details": _STRINGS,
            "data": {"type": "object"},
            "duration_s": {"type": "number"},
        },
    },
    "HealthReport": {
        "type": "object",
        "required": ["kind", "stack", "checks", "condition", "to_groups", "started_at", "finished_at"],
        "properties": {
            "format": {"type": "integer"},
            "kind": {"type": "string", "enum": ["HealthReport"]},
            "stack": {"type": "string"},
            "switch_id": _NULLABLE_STRING,
            "fingerprint": _NULLABLE_STRING,
            "from_groups": _STRINGS,
            "to_groups": _STRINGS,
            "started_at": {"type": "string"},
            "finished_at": {"type": "string"},
            "checks": {"type": "array", "items": {"$ref": "#/components/schemas/CheckResult"}},
            "condition": {"$ref": "#/components/schemas/Condition"},
        },
    },
    "Status": {
        "type": "object",
        "description": "The same report as `orchestrator status --json`.",
        "required": ["stack", "active_groups", "zones", "hostnames", "problems", "in_sync"],
        "properties": {
            "stack": {"type": "string"},
            "active_groups": _STRINGS,
            "zones": {"type": "array", "items": {"type": "object"}},
            "hostnames": {"type": "array", "items": {"type": "object"}},
            "stale_registry": _STRINGS,
            "problems": _STRINGS,
            "in_sync": {"type": "boolean"},
            "last_switchover_healthy": {"$ref": "#/components/schemas/Condition"},
        },
    },
    "Alive": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document (a fresh dict each call)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "orchestrator serve",
            "version": API_VERSION,
            "description": (
                "Dry-run, health and status of the active-group failover orchestrator over HTTP. "
                "Read-only: this API never executes a switch. Every /v1 route needs "
                "`Authorization: Bearer <token>`; the dry-run also needs `X-Owner-Tier: true`. "
                "/healthz, /metrics and /openapi.json are open."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8082"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The API token."},
                "ownerTier": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Owner-Tier",
                    "description": "Must be `true`: the caller acts for the owners of the stack.",
                },
            },
            "responses": {
                "Unauthorized": {
                    **_error_response("No bearer token, or not the right one."),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                },
            },
            "schemas": SCHEMAS,
        },
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "alive",
                    "summary": "The server is up (no dependency is checked).",
                    "security": [],
                    "responses": {"200": _json_response("Up.", "Alive")},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (docs/metrics.md).",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format (OpenMetrics on request).",
                            "content": {
                                "text/plain": {"schema": {"type": "string"}},
                                "application/openmetrics-text": {"schema": {"type": "string"}},
                            },
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.0.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/v1/switchovers/dry-run": {
                "post": {
                    "operationId": "dryRun",
                    "summary": "The dry-run report of a switch to the given groups (changes nothing).",
                    "description": (
                        "The same report and plan fingerprint as `orchestrator switch --to G --dry-run "
                        "--json`: a real Pulumi preview of the planned configuration; no lease, state, "
                        "journal, audit event or stack file is written. Pass the fingerprint to "
                        "`orchestrator switch --plan` to execute exactly this plan."
                    ),
                    "security": [{"bearer": [], "ownerTier": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/DryRunRequest"}}
                        },
                    },
                    "responses": {
                        "200": _json_response(
                            "The dry-run report (blockers are part of it).", "DryRunReport"
                        ),
                        "400": _error_response("The body is not a valid DryRunRequest."),
                        "401": UNAUTHORIZED,
                        "403": _error_response("The X-Owner-Tier: true header is missing."),
                        "409": _error_response("The stack is locked by an update in progress."),
                        "413": _error_response("The body is larger than 64 KiB."),
                        "422": _error_response("The groups or the stack configuration are not valid."),
                        "503": _error_response(
                            "A DNS server, the lease servers or the engine is unavailable."
                        ),
                    },
                }
            },
            "/v1/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The last HealthReport (from the last verify or `orchestrator health`).",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json_response("The last report.", "HealthReport"),
                        "401": UNAUTHORIZED,
                        "404": _error_response("No health report yet."),
                    },
                }
            },
            "/v1/status": {
                "get": {
                    "operationId": "status",
                    "summary": "What the DNS servers serve now, drift, and LastSwitchoverHealthy.",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json_response("The status report.", "Status"),
                        "401": UNAUTHORIZED,
                        "503": _error_response("A DNS server is unavailable."),
                    },
                }
            },
        },
    }


def document_json() -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
