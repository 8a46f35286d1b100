"""The OpenAPI document of `orchestrator serve` (served at /openapi.json, committed as
docs/openapi.json; a unit test keeps the two identical). Long because it is data: one
schema per route and body.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.domain.health import CHECKS, CONDITION_STATUSES, CONDITION_TYPE, STATUSES

API_VERSION = "1.0.0"
GROUP_PATTERN = "^[^;&,\"'= ]{1,16}$"
MAX_GROUPS = 16
FINGERPRINT_PATTERN = "^[0-9a-f]{16}$"
SWITCH_ID_PATTERN = "^sw-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$"
MAX_REASON = 500

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
READER = [{"bearer": []}, {"session": []}]
OWNER = [{"bearer": [], "ownerTier": []}, {"session": [], "csrf": []}]
_NULLABLE_NUMBER = {"type": "number", "nullable": True}

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
    "ExecuteRequest": {
        "type": "object",
        "required": ["to_groups", "fingerprint", "reason"],
        "additionalProperties": False,
        "properties": {
            "to_groups": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_GROUPS,
                "items": {"type": "string", "pattern": GROUP_PATTERN},
                "description": "The same groups as the reviewed dry-run.",
            },
            "mode": {"type": "string", "enum": ["planned", "failover"], "default": "planned"},
            "fingerprint": {
                "type": "string",
                "pattern": FINGERPRINT_PATTERN,
                "description": "The reviewed dry-run's fingerprint: the switch runs only if the plan "
                "still has it.",
            },
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_REASON,
                "pattern": "\\S",
                "description": "Why the switch runs now (audited as switchover.confirmed).",
            },
        },
        "example": {"to_groups": ["group-b"], "fingerprint": "0123456789abcdef", "reason": "INC-1234"},
    },
    "Launch": {
        "type": "object",
        "description": "A switch this server started (`orchestrator switch --plan FP --yes`).",
        "required": ["launch_id", "switch_id", "fingerprint", "to_groups", "mode", "running", "exit_code"],
        "properties": {
            "launch_id": {"type": "string"},
            "switch_id": {
                **_NULLABLE_STRING,
                "description": "null: still re-checking the plan, or nothing to do (already active).",
            },
            "fingerprint": {"type": "string"},
            "to_groups": _STRINGS,
            "mode": {"type": "string"},
            "running": {"type": "boolean"},
            "exit_code": {"type": "integer", "nullable": True},
            "error": {"$ref": "#/components/schemas/Error"},
        },
    },
    "StepRecord": {
        "type": "object",
        "required": ["name", "status"],
        "properties": {
            "name": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "running", "completed", "failed", "skipped"]},
            "started_at": _NULLABLE_STRING,
            "finished_at": _NULLABLE_STRING,
            "duration_s": _NULLABLE_NUMBER,
            "detail": _NULLABLE_STRING,
        },
    },
    "SwitchRecord": {
        "type": "object",
        "description": "A switch journal record (docs/audit.md) with its durations.",
        "required": ["id", "stack", "kind", "status", "fingerprint", "steps", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "stack": {"type": "string"},
            "kind": {"type": "string"},
            "mode": {"type": "string"},
            "from_groups": _STRINGS,
            "to_groups": _STRINGS,
            "fingerprint": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["running", "completed", "failed", "rolled-back", "abandoned"],
            },
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "holder": _NULLABLE_STRING,
            "epoch": {"type": "integer", "nullable": True},
            "rollback_of": _NULLABLE_STRING,
            "error": _NULLABLE_STRING,
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/StepRecord"}},
            "steps_seconds": {"type": "number", "description": "Sum of the recorded step durations."},
            "recovery_seconds": {
                **_NULLABLE_NUMBER,
                "description": "Start to end of the switch (null while it runs).",
            },
        },
    },
    "SwitchList": {
        "type": "object",
        "required": ["switches"],
        "properties": {
            "switches": {"type": "array", "items": {"$ref": "#/components/schemas/SwitchRecord"}},
        },
    },
    "SwitchProgress": {
        "type": "object",
        "description": "Where a switch stands (from the journal, whoever started it), and its health report "
        "once verify wrote one.",
        "required": ["switch", "launch", "health"],
        "properties": {
            "switch": {"$ref": "#/components/schemas/SwitchRecord"},
            "launch": {
                "allOf": [{"$ref": "#/components/schemas/Launch"}],
                "nullable": True,
                "description": "Set when this server started the switch.",
            },
            "health": {
                "allOf": [{"$ref": "#/components/schemas/HealthReport"}],
                "nullable": True,
                "description": "The health report of this switch (null until verify has run).",
            },
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
                "Dry-run, execution, progress, health and status of the active-group failover "
                "orchestrator over HTTP. Every /v1 route needs `Authorization: Bearer <token>` or a "
                "console session cookie (docs/console.md); the dry-run and execution also need the "
                "owner tier (`X-Owner-Tier: true`, or a session opened as owner) and, with a session, "
                "its CSRF token. Execution starts `orchestrator switch --plan FP --yes`, which refuses "
                "a plan that changed or has blockers. /healthz, /metrics and /openapi.json are open."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8082"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The API token."},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "orchestrator_session",
                    "description": "A console session (POST /console/login with the token).",
                },
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "The session's CSRF token (in the console pages' meta csrf-token).",
                },
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
                    "security": OWNER,
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
                        "403": _error_response(
                            "Not the owner tier (no X-Owner-Tier: true), or a session without its CSRF token."
                        ),
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
                    "security": READER,
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
                    "security": READER,
                    "responses": {
                        "200": _json_response("The status report.", "Status"),
                        "401": UNAUTHORIZED,
                        "503": _error_response("A DNS server is unavailable."),
                    },
                }
            },
            "/v1/switchovers": {
                "get": {
                    "operationId": "listSwitchovers",
                    "summary": "The stack's switches from the journal, newest first, with their durations.",
                    "security": READER,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                        }
                    ],
                    "responses": {
                        "200": _json_response("The switches.", "SwitchList"),
                        "400": _error_response("limit is not 1 to 200."),
                        "401": UNAUTHORIZED,
                    },
                },
                "post": {
                    "operationId": "executeSwitchover",
                    "summary": "Execute a reviewed plan: `orchestrator switch --to G --plan FP --yes`.",
                    "description": (
                        "Audits the reason (switchover.confirmed), starts the switch the CLI runs as a "
                        "supervised child process, and answers once its journal record exists (202, "
                        "Location: /v1/switchovers/{id}) or it refused: 409 when the plan has blockers or "
                        "changed since the dry-run (the fingerprint differs), or when a switch is already "
                        "running. Follow its progress with GET /v1/switchovers/{id}."
                    ),
                    "security": OWNER,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ExecuteRequest"}}
                        },
                    },
                    "responses": {
                        "202": _json_response("Started (or nothing to do: switch_id null).", "Launch"),
                        "400": _error_response("The body is not a valid ExecuteRequest."),
                        "401": UNAUTHORIZED,
                        "403": _error_response("Not the owner tier, or a session without its CSRF token."),
                        "409": _error_response(
                            "Refused: blockers, the plan changed, or another switch is running."
                        ),
                        "413": _error_response("The body is larger than 64 KiB."),
                        "422": _error_response("The groups or the stack configuration are not valid."),
                        "503": _error_response(
                            "A DNS server, the lease servers or the engine is unavailable."
                        ),
                    },
                },
            },
            "/v1/switchovers/{switch_id}": {
                "get": {
                    "operationId": "getSwitchover",
                    "summary": "Progress of one switch: each step's state and duration, then its health.",
                    "security": READER,
                    "parameters": [
                        {
                            "name": "switch_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": SWITCH_ID_PATTERN},
                        }
                    ],
                    "responses": {
                        "200": _json_response("Where the switch stands.", "SwitchProgress"),
                        "401": UNAUTHORIZED,
                        "404": _error_response("No such switch in the journal."),
                    },
                }
            },
        },
    }


def document_json() -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"
