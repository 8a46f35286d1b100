"""orchestrator/services/policies.py: overrides, the config the pack gets, the verdict from engine events."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from orchestrator.adapters.files.audit import AuditLog
from orchestrator.adapters.probes.http import http_probe, why_unreachable
from orchestrator.domain.errors import UsageError
from orchestrator.domain.topology import load_topology
from orchestrator.ports.probes import HttpAnswer
from orchestrator.services import policies as P

REPO = Path(__file__).resolve().parents[2]


# --- --override-policy NAME --reason TEXT ---------------------------------------------------------


def test_no_override_is_empty():
    assert P.check_override(None, None) == {}


def test_an_override_names_one_known_policy_with_a_reason():
    assert P.check_override("blast-radius", "  INC-7: planned re-IP  ") == {
        "blast-radius": "INC-7: planned re-IP"
    }


@pytest.mark.parametrize(
    "name,reason,needle",
    [
        ("blast-radius", None, "needs --reason"),
        ("blast-radius", "   ", "needs --reason"),
        (None, "because", "--reason without --override-policy"),
        ("all", "because", "unknown policy 'all'"),
        ("no-such-policy", "because", "unknown policy"),
    ],
)
def test_a_bad_override_is_refused_as_bad_input(name, reason, needle):
    with pytest.raises(UsageError) as err:
        P.check_override(name, reason)
    assert needle in err.value.what and err.value.fix and err.value.exit_code == 2


# --- the state before, the health measurement -----------------------------------------------------


def _export() -> dict:
    def res(name: str, rtype: str, values: list, **extra) -> dict:
        outs = {"zone": "app.example.test", "name": name, "type": rtype, "ttl": 30, "values": values}
        return {"urn": f"urn::{name}", "type": "pulumi-python:dynamic:Resource", "outputs": outs, **extra}

    return {
        "resources": [
            {"urn": "urn::stack", "type": "pulumi:pulumi:Stack", "outputs": {"activeGroups": ["group-a"]}},
            res("www.app.example.test", "A", ["127.0.10.2", "127.0.10.1"]),
            res("kuadrant-active-groups.app.example.test", "TXT", ["version=1;groups=group-a&&group-c"]),
            res("gone.app.example.test", "A", ["127.0.10.9"], delete=True),
            res("secret.app.example.test", "A", [{"4dabf18193072939515e22adb298388d": "x"}]),
        ]
    }


def test_baseline_reads_record_sets_from_the_state_and_skips_pending_deletes():
    base = P.baseline_from_deployment(_export())
    assert [(r.name, r.values) for r in base.records] == [
        ("kuadrant-active-groups.app.example.test", ("version=1;groups=group-a&&group-c",)),
        ("secret.app.example.test", ()),
        ("www.app.example.test", ("127.0.10.1", "127.0.10.2")),
    ]
    assert base.active == ("group-a", "group-c")
    assert P.baseline_from_deployment({}).records == ()


class _Answer503(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _topology():
    health = {"port": 18080, "path": "/healthz"}
    return load_topology(
        {
            "zones": [{"name": "app.example.test", "provider": "powerdns"}],
            "groups": {
                "group-a": {"endpoints": {"www.app.example.test": {"a": ["127.0.10.1"], "health": health}}},
                "group-b": {
                    "endpoints": {
                        "www.app.example.test": {"a": ["127.0.20.1", "127.0.20.2"], "health": health},
                        "shop.app.example.test": {"a": ["127.0.20.1"], "health": health},
                        "nohealth.app.example.test": {"a": ["127.0.20.3"]},
                    }
                },
            },
        }
    )


def test_measure_health_gets_each_url_of_the_activated_groups_once():
    calls: list[str] = []
    lock = threading.Lock()

    def probe(url: str, timeout: float) -> HttpAnswer:
        with lock:
            calls.append(url)
        if "127.0.20.2" in url:
            return HttpAnswer(None, 1.0, "connection refused")
        return HttpAnswer(200, 1.0, None)

    m = P.measure_health(_topology(), ["group-b"], probe=probe)
    assert sorted(calls) == ["http://127.0.20.1:18080/healthz", "http://127.0.20.2:18080/healthz"]
    assert m.groups == ("group-b",)
    assert [(c.hostname, c.target, c.status, c.error) for c in m.checks] == [
        ("shop.app.example.test", "127.0.20.1", 200, None),
        ("www.app.example.test", "127.0.20.1", 200, None),
        ("www.app.example.test", "127.0.20.2", None, "unreachable (connection refused)"),
    ]
    assert m.problems() == [
        "group-b endpoint www.app.example.test target 127.0.20.2: "
        "http://127.0.20.2:18080/healthz unreachable (connection refused)"
    ]
    cfg = m.to_config()
    assert cfg["measuredAt"].endswith("Z") and set(cfg["groups"]) == {"group-b"}
    assert {
        "hostname": "www.app.example.test",
        "target": "127.0.20.2",
        "url": "http://127.0.20.2:18080/healthz",
        "error": "unreachable (connection refused)",
    } in cfg["groups"]["group-b"]["checks"]


def test_an_unreachable_reason_is_short_and_stable_because_blockers_are_fingerprinted():
    timeout = requests.Timeout(f"<urllib3.connection.HTTPConnection object at 0x{id(REPO):x}> timed out")
    assert why_unreachable(timeout, 1.5) == "no answer within 1.5s"
    refused = requests.ConnectionError(
        "HTTPConnectionPool(...): Failed to establish: [Errno 111] Connection refused"
    )
    assert why_unreachable(refused, 1.5) == "connection refused"

    def silent(url: str, timeout: float) -> HttpAnswer:
        return HttpAnswer(None, timeout * 1000, why_unreachable(requests.Timeout("x"), timeout))

    m = P.measure_health(_topology(), ["group-a"], probe=silent, timeout=1.5)
    assert m.checks[0].error == "unreachable (no answer within 1.5s)"


def test_the_http_probe_answers_with_the_status_or_a_short_reason():
    """The one HTTP probe (policy run, dry-run, health checks) against a real local server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        answer = http_probe(f"http://127.0.0.1:{port}/healthz", 2.0)
        assert answer.status == 503 and answer.error is None and answer.millis > 0
    finally:
        server.shutdown()
        server.server_close()
    gone = http_probe(f"http://127.0.0.1:{port}/healthz", 2.0)
    assert gone.status is None and gone.error == "connection refused"


def test_measuring_no_group_measures_nothing():
    m = P.measure_health(_topology(), [], probe=lambda *a, **k: pytest.fail("no GET expected"))
    assert m.checks == () and m.to_config()["groups"] == {}


# --- the config file the pack gets ----------------------------------------------------------------


def test_build_config_adds_the_measurements_to_the_thresholds_without_changing_them():
    limits = P.thresholds(REPO / "policy")
    snapshot = json.dumps(limits, sort_keys=True)
    base = P.baseline_from_deployment(_export())
    m = P.Measurement("2026-11-21T10:00:00.000Z", ("group-b",))
    cfg = P.build_config(
        limits, baseline=base, measurement=m, topology_hostnames=["b.x", "a.x", "a.x"], overrides={}
    )
    assert json.dumps(limits, sort_keys=True) == snapshot
    assert cfg["blast-radius"]["maxChangedPercent"] == limits["blast-radius"]["maxChangedPercent"]
    assert cfg["blast-radius"]["before"] == cfg["no-empty-hostname"]["before"] == base.before()
    assert cfg["target-group-healthy"]["activeBefore"] == ["group-a", "group-c"]
    assert cfg["target-group-healthy"]["measurement"] == {
        "measuredAt": "2026-11-21T10:00:00.000Z",
        "groups": {"group-b": {"checks": []}},
    }
    assert cfg["no-empty-hostname"]["topologyHostnames"] == ["a.x", "b.x"]
    assert {name: c["enforcementLevel"] for name, c in cfg.items()} == {
        name: c["enforcementLevel"] for name, c in limits.items()
    }


def test_an_override_lowers_exactly_that_policy_to_advisory():
    limits = P.thresholds(REPO / "policy")
    cfg = P.build_config(
        limits, baseline=None, measurement=None, topology_hostnames=None, overrides={"blast-radius": "INC-7"}
    )
    assert cfg["blast-radius"]["enforcementLevel"] == "advisory"
    others = {n: c["enforcementLevel"] for n, c in cfg.items() if n != "blast-radius"}
    assert others == {n: c["enforcementLevel"] for n, c in limits.items() if n != "blast-radius"}
    # Without measurements the pack must see that they are missing (it refuses then).
    assert "before" not in cfg["blast-radius"] and "measurement" not in cfg["target-group-healthy"]


def test_the_pack_is_found_beside_the_package_when_the_project_has_none(tmp_path):
    assert P.pack_dir(REPO) == REPO / "policy"
    assert P.pack_dir(tmp_path) == REPO / "policy"  # a copy of the project (tests' TempProject)


# --- the verdict ----------------------------------------------------------------------------------


def _event(policy: str, level: str, message: str, urn: str = "urn:s") -> SimpleNamespace:
    pe = SimpleNamespace(policy_name=policy, enforcement_level=level, message=message, resource_urn=urn)
    return SimpleNamespace(policy_event=pe)


EVENTS = [
    SimpleNamespace(policy_event=None),
    _event("blast-radius", "mandatory", "One update changes at most P %.\nzone x: 10 of 14\n"),
    _event("ttl-ceiling", "advisory", "Published failover records...\nwww A has TTL 300s\n", urn=""),
    _event("target-group-healthy", "mandatory", "The group...\ngroup group-b: 0 healthy\n"),
    _event("blast-radius", "mandatory", "One update changes at most P %.\nzone x: 10 of 14\n"),  # repeated
]


def test_violations_are_read_from_policy_events_without_the_description():
    assert P.violations_from_events(EVENTS) == [
        P.Violation("blast-radius", "mandatory", "zone x: 10 of 14", "urn:s"),
        P.Violation("ttl-ceiling", "advisory", "www A has TTL 300s", None),
        P.Violation("target-group-healthy", "mandatory", "group group-b: 0 healthy", "urn:s"),
    ]


def test_mandatory_violations_block_and_advisory_ones_warn():
    v = P.verdict(P.violations_from_events(EVENTS))
    assert v.blockers == (
        "policy blast-radius: zone x: 10 of 14",
        "policy target-group-healthy: group group-b: 0 healthy",
    )
    assert v.warnings == ("policy ttl-ceiling (advisory): www A has TTL 300s",)
    assert v.overridden == {}


def test_an_overridden_policy_warns_and_the_others_still_block():
    # The engine already reports an overridden policy as advisory (its level was lowered).
    events = [_event("blast-radius", "advisory", "d\nzone x: 10 of 14"), *EVENTS[3:4]]
    v = P.verdict(P.violations_from_events(events), {"blast-radius": "INC-7: planned re-IP"})
    assert v.blockers == ("policy target-group-healthy: group group-b: 0 healthy",)
    assert v.warnings == ("policy blast-radius OVERRIDDEN (INC-7: planned re-IP): zone x: 10 of 14",)
    assert v.overridden == {"blast-radius": ("zone x: 10 of 14",)}


def test_the_override_audit_event_names_the_policy_the_reason_and_the_user(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_USER", "alice@ops")
    log = AuditLog(tmp_path / "audit.jsonl")
    v = P.verdict([P.Violation("blast-radius", "advisory", "zone x: 10 of 14")], {"blast-radius": "INC-7"})
    P.audit_overrides(log, {"blast-radius": "INC-7"}, v, stack="local", mode="planned", switch_id="sw-1")
    (event,) = log.read(types=["policy.overridden"])
    assert {
        k: event[k] for k in ("policy", "reason", "user", "stack", "mode", "switch_id", "violations")
    } == {
        "policy": "blast-radius",
        "reason": "INC-7",
        "user": "alice@ops",
        "stack": "local",
        "mode": "planned",
        "switch_id": "sw-1",
        "violations": ["zone x: 10 of 14"],
    }


def test_overriding_no_empty_hostname_also_lowers_the_plans_own_check_and_nothing_else():
    from orchestrator.domain.switch.plan import EndpointChange, build_plan

    gone = EndpointChange("DELETE", "app.example.test", "legacy.app.example.test", "A", ("127.0.10.9",), ())
    policy = P.verdict([P.Violation("target-group-healthy", "mandatory", "group group-b: 0 healthy")])
    common: dict[str, Any] = dict(
        stack="s",
        kind="switch",
        mode="planned",
        from_groups=("group-a",),
        to_groups=("group-b",),
        changes=[gone],
        extra_blockers=list(policy.blockers),
    )
    plan = build_plan(**common)
    assert len(plan.blockers) == 2
    lowered = build_plan(**common, overrides={"no-empty-hostname": "INC-9: legacy is dead anyway"})
    assert lowered.blockers == ("policy target-group-healthy: group group-b: 0 healthy",)
    assert lowered.warnings == (
        "OVERRIDDEN (no-empty-hostname: INC-9: legacy is dead anyway): legacy.app.example.test A would be "
        "left with no targets (only the groups being deactivated publish it: 127.0.10.9)",
    )
    assert lowered.fingerprint != plan.fingerprint  # the reviewed plan includes the override
