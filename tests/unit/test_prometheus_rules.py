"""docs/prometheus/*.yml: `promtool check rules` and `promtool test rules`; the Grafana dashboard.

The unit tests of the rules are written here (as data) and run by promtool against the
committed rule files, so a change to a rule that breaks its meaning fails the suite.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.services.metrics import METRIC_NAMES as SERVE_METRIC_NAMES
from orchestrator.services.watch.metrics import WATCH_METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "docs" / "prometheus").glob("*.yml"))
DASHBOARDS = sorted((REPO / "docs" / "grafana").glob("*.json"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus) is not installed")
# Metric names in an expression: recorded (level:metric:ops) first, then ours; label names excluded.
METRIC_RE = r"\b([a-z_]+:[a-z_:0-9]+|(?!dns_record_name\b)(?:dns_record|orchestrator)_[a-z_]+)\b"
CHANGES = "dns_record_group:dns_record_group_active:changes30m"
SUM = "zone_group:dns_record_group_active:sum"
ENTRIES = "orchestrator_inactive_group_registry_entries"
ACTIVE = "dns_record_group_active"
REQUIRED_ALERTS = {
    "OrchestratorFailoverStuck",
    "OrchestratorGroupFlapping",
    "OrchestratorCleanupNotProgressing",
    "OrchestratorLeaseCollisions",
    "OrchestratorDatabaseSplitBrain",
    "OrchestratorDatabaseNoPrimary",
    "OrchestratorDatabaseReplicationLagHigh",
    "OrchestratorDatabaseWalReceiverDown",
    "OrchestratorDatabaseFenced",
    "OrchestratorFailoverPathBlocked",
    "OrchestratorAutomaticSwitchingBlocked",
}
READY = "orchestrator_failover_ready"
WATCH_BLOCKED = "orchestrator_watch_blocked"
METRIC_NAMES = {**SERVE_METRIC_NAMES, **WATCH_METRIC_NAMES}
PRIMARY = "orchestrator_database_primary_info"
LAG = "orchestrator_database_replication_lag_bytes"
RECEIVER = "orchestrator_database_wal_receiver_up"
FENCED = "orchestrator_database_fenced"


def db(metric: str, pair: str, group: str, instance: str = "a") -> str:
    return f'{metric}{{pair="{pair}",group="{group}",instance="{instance}"}}'


def rules() -> list[dict[str, Any]]:
    out = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += group["rules"]
    return out


def alert(name: str) -> dict[str, Any]:
    return next(r for r in rules() if r.get("alert") == name)


def humanize1024(value: float) -> str:
    """Prometheus' `humanize1024` template function (%.4g with a binary prefix)."""
    if abs(value) <= 1:
        return f"{value:.4g}"
    prefixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
    while abs(value) >= 1024 and len(prefixes) > 1:
        value /= 1024
        prefixes.pop(0)
    return f"{value:.4g}{prefixes[0]}"


def render(template: str, labels: dict[str, str], value: float) -> str:
    """The template forms the rules use, as Prometheus renders them."""
    out = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m[1], ""), template)
    out = out.replace("{{ $value | humanize1024 }}", humanize1024(float(value)))
    shown = str(int(value)) if float(value).is_integer() else repr(float(value))  # Go's %v of a float64
    return out.replace("{{ $value }}", shown)


def expected(name: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    rule = alert(name)
    return {
        "exp_labels": {**labels, **rule.get("labels", {})},
        "exp_annotations": {k: render(v, labels, value) for k, v in rule.get("annotations", {}).items()},
    }


def test_the_required_alerts_exist_and_use_only_known_metrics() -> None:
    names = {r["alert"] for r in rules() if "alert" in r}
    assert names >= REQUIRED_ALERTS
    recorded = {r["record"] for r in rules() if "record" in r}
    known = set(METRIC_NAMES) | recorded
    for r in rules():
        for metric in re.findall(METRIC_RE, r["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert metric in known or base in known, (r.get("alert") or r.get("record"), metric)


@needs_promtool
def test_promtool_check_rules() -> None:
    proc = subprocess.run(
        [PROMTOOL, "check", "rules", *map(str, RULES)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULES)


def rule_tests() -> list[dict[str, Any]]:
    stuck = {"stack": "prod"}
    rec = {"dns_record_name": "www.example.com", "zone": "example.com", "group": "group-a"}
    zone_group = {"zone": "example.com", "group": "group-a"}
    return [
        {  # a switch left unfinished for 10 minutes (journal says failed), and a running one
            "interval": "1m",
            "input_series": [
                {"series": 'orchestrator_switchover_unfinished{stack="prod",instance="a"}', "values": "1x30"},
                {
                    "series": 'orchestrator_switchover_in_progress{stack="prod",instance="a"}',
                    "values": "0x30",
                },
                {
                    "series": 'orchestrator_switchover_unfinished{stack="dev",instance="a"}',
                    "values": "1x3 0x27",
                },
                {
                    "series": 'orchestrator_switchover_in_progress{stack="dev",instance="a"}',
                    "values": "1x3 0x27",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "OrchestratorFailoverStuck", "exp_alerts": []},
                {
                    "eval_time": "15m",
                    "alertname": "OrchestratorFailoverStuck",
                    "exp_alerts": [expected("OrchestratorFailoverStuck", stuck, 1)],
                },
            ],
        },
        {  # a switch process killed mid-way: in progress forever per the audit log
            "interval": "1m",
            "input_series": [
                {"series": 'orchestrator_switchover_in_progress{stack="prod"}', "values": "1x20"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "12m",
                    "alertname": "OrchestratorFailoverStuck",
                    "exp_alerts": [expected("OrchestratorFailoverStuck", stuck, 1)],
                }
            ],
        },
        {  # flapping: a->b->a->b->a within 30 minutes; one flip alone is quiet
            "interval": "5m",
            "input_series": [
                {
                    "series": 'dns_record_group_active{dns_record_name="www.example.com",zone="example.com",group="group-a"}',  # noqa: E501
                    "values": "1 0 1 0 1 1 1",
                },
                {
                    "series": 'dns_record_group_active{dns_record_name="api.example.com",zone="example.com",group="group-a"}',  # noqa: E501
                    "values": "1 0 0 0 0 0 0",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "OrchestratorGroupFlapping", "exp_alerts": []},
                {
                    "eval_time": "25m",
                    "alertname": "OrchestratorGroupFlapping",
                    "exp_alerts": [expected("OrchestratorGroupFlapping", rec, 4)],
                },
            ],
            "promql_expr_test": [
                {
                    "expr": "dns_record_group:dns_record_group_active:changes30m",
                    "eval_time": "25m",
                    "exp_samples": [
                        {
                            "labels": CHANGES + "{" + ",".join(f'{k}="{v}"' for k, v in rec.items()) + "}",
                            "value": 4,
                        },
                        {
                            "labels": CHANGES
                            + '{dns_record_name="api.example.com",zone="example.com",group="group-a"}',
                            "value": 1,
                        },
                    ],
                }
            ],
        },
        {  # inactive entries stay and nothing cleans them: alert; in another zone cleanup runs: quiet
            "interval": "1m",
            "input_series": [
                {
                    "series": ENTRIES + '{zone="example.com",group="group-a"}',
                    "values": "2x40",
                },
                {
                    "series": 'dns_record_inactive_group_cleanup_total{dns_record_name="www.example.com",zone="example.com",group="group-a"}',  # noqa: E501
                    "values": "0x40",
                },
                {
                    "series": ENTRIES + '{zone="example.org",group="group-a"}',
                    "values": "3x40",
                },
                {
                    "series": 'dns_record_inactive_group_cleanup_total{dns_record_name="www.example.org",zone="example.org",group="group-a"}',  # noqa: E501
                    "values": "0+1x40",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "OrchestratorCleanupNotProgressing", "exp_alerts": []},
                {
                    "eval_time": "35m",
                    "alertname": "OrchestratorCleanupNotProgressing",
                    "exp_alerts": [expected("OrchestratorCleanupNotProgressing", zone_group, 2)],
                },
            ],
        },
        {  # a collision raises the alert while it is within the window, then it clears
            "interval": "1m",
            "input_series": [
                {"series": 'orchestrator_lease_collisions_total{stack="prod"}', "values": "0x5 1x40"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "OrchestratorLeaseCollisions", "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": "OrchestratorLeaseCollisions",
                    "exp_alerts": [expected("OrchestratorLeaseCollisions", stuck, 1)],
                },
                {"eval_time": "40m", "alertname": "OrchestratorLeaseCollisions", "exp_alerts": []},
            ],
        },
        {  # LastSwitchoverHealthy=False for 5 minutes; and the live zones unreadable
            "interval": "1m",
            "input_series": [
                {
                    "series": 'orchestrator_last_switchover_healthy{stack="prod",status="False"}',
                    "values": "1x10",
                },
                {
                    "series": 'orchestrator_last_switchover_healthy{stack="prod",status="True"}',
                    "values": "0x10",
                },
                {"series": 'orchestrator_live_zone_up{stack="prod"}', "values": "1 1 0x10"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "6m",
                    "alertname": "OrchestratorLastSwitchoverUnhealthy",
                    "exp_alerts": [expected("OrchestratorLastSwitchoverUnhealthy", stuck, 1)],
                },
                {"eval_time": "5m", "alertname": "OrchestratorLiveZoneUnreadable", "exp_alerts": []},
                {
                    "eval_time": "8m",
                    "alertname": "OrchestratorLiveZoneUnreadable",
                    "exp_alerts": [expected("OrchestratorLiveZoneUnreadable", stuck, 0)],
                },
            ],
        },
        {  # split brain: two primaries in one pair (the same series from two scrapers is one)
            "interval": "1m",
            "input_series": [
                {"series": db(PRIMARY, "orders", "group-a"), "values": "1x10"},
                {"series": db(PRIMARY, "orders", "group-b"), "values": "0 0 0 1x7"},
                {"series": db(PRIMARY, "billing", "group-a"), "values": "1x10"},
                {"series": db(PRIMARY, "billing", "group-a", instance="b"), "values": "1x10"},
                {"series": db(PRIMARY, "billing", "group-b"), "values": "0x10"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "OrchestratorDatabaseSplitBrain", "exp_alerts": []},
                {
                    "eval_time": "5m",
                    "alertname": "OrchestratorDatabaseSplitBrain",
                    "exp_alerts": [expected("OrchestratorDatabaseSplitBrain", {"pair": "orders"}, 2)],
                },
            ],
        },
        {  # no primary: a switchover's gap of a minute is quiet, 5 minutes fires
            "interval": "1m",
            "input_series": [
                {"series": db(PRIMARY, "orders", "group-a"), "values": "1 0x12"},
                {"series": db(PRIMARY, "orders", "group-b"), "values": "0 0x12"},
                {"series": db(PRIMARY, "billing", "group-a"), "values": "1 0 1x11"},
                {"series": db(PRIMARY, "billing", "group-b"), "values": "0x12"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "OrchestratorDatabaseNoPrimary", "exp_alerts": []},
                {
                    "eval_time": "7m",
                    "alertname": "OrchestratorDatabaseNoPrimary",
                    "exp_alerts": [expected("OrchestratorDatabaseNoPrimary", {"pair": "orders"}, 0)],
                },
            ],
        },
        {  # a standby lagging above 16 MiB for 5 minutes; one at the limit is quiet
            "interval": "1m",
            "input_series": [
                {"series": db(LAG, "orders", "group-a"), "values": "0 33554432x10"},
                {"series": db(LAG, "billing", "group-a"), "values": "16777216x10"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "OrchestratorDatabaseReplicationLagHigh", "exp_alerts": []},
                {
                    "eval_time": "7m",
                    "alertname": "OrchestratorDatabaseReplicationLagHigh",
                    "exp_alerts": [
                        expected(
                            "OrchestratorDatabaseReplicationLagHigh",
                            {"pair": "orders", "group": "group-a"},
                            33554432,
                        )
                    ],
                },
            ],
        },
        {  # a WAL receiver down for 5 minutes; one that reconnected is quiet
            "interval": "1m",
            "input_series": [
                {"series": db(RECEIVER, "orders", "group-a"), "values": "1 0x10"},
                {"series": db(RECEIVER, "billing", "group-a"), "values": "0 0 1x9"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "OrchestratorDatabaseWalReceiverDown", "exp_alerts": []},
                {
                    "eval_time": "7m",
                    "alertname": "OrchestratorDatabaseWalReceiverDown",
                    "exp_alerts": [
                        expected(
                            "OrchestratorDatabaseWalReceiverDown", {"pair": "orders", "group": "group-a"}, 0
                        )
                    ],
                },
            ],
        },
        {  # a fenced cluster nobody rebuilt within 15 minutes
            "interval": "1m",
            "input_series": [
                {"series": db(FENCED, "orders", "group-a"), "values": "0 1x30"},
                {"series": db(FENCED, "orders", "group-b"), "values": "0x30"},
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "OrchestratorDatabaseFenced", "exp_alerts": []},
                {
                    "eval_time": "20m",
                    "alertname": "OrchestratorDatabaseFenced",
                    "exp_alerts": [
                        expected("OrchestratorDatabaseFenced", {"pair": "orders", "group": "group-a"}, 1)
                    ],
                },
            ],
        },
        {  # a failover path that would be refused, found before it is needed
            "interval": "1m",
            "input_series": [
                {"series": f'{READY}{{stack="prod",to_group="group-b"}}', "values": "1 1 0x20"},
                {"series": f'{READY}{{stack="prod",to_group="group-c"}}', "values": "1x22"},
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "OrchestratorFailoverPathBlocked", "exp_alerts": []},
                {
                    "eval_time": "15m",
                    "alertname": "OrchestratorFailoverPathBlocked",
                    "exp_alerts": [
                        expected(
                            "OrchestratorFailoverPathBlocked", {"stack": "prod", "to_group": "group-b"}, 0
                        )
                    ],
                },
            ],
        },
        {  # automatic switching blocked after a failover, and nobody acknowledged it
            "interval": "1m",
            "input_series": [{"series": f'{WATCH_BLOCKED}{{stack="prod"}}', "values": "0 1x40"}],
            "alert_rule_test": [
                {"eval_time": "20m", "alertname": "OrchestratorAutomaticSwitchingBlocked", "exp_alerts": []},
                {
                    "eval_time": "35m",
                    "alertname": "OrchestratorAutomaticSwitchingBlocked",
                    "exp_alerts": [expected("OrchestratorAutomaticSwitchingBlocked", {"stack": "prod"}, 1)],
                },
            ],
        },
        {  # the recording rules of the flip: records per group cross over
            "interval": "1m",
            "input_series": [
                {
                    "series": ACTIVE + f'{{dns_record_name="{h}",zone="example.com",group="{g}"}}',
                    "values": v,
                }
                for h in ("www.example.com", "api.example.com")
                for g, v in (("group-a", "1 1 0 0"), ("group-b", "0 0 1 1"))
            ]
            + [
                {
                    "series": 'orchestrator_switchovers_total{stack="prod",result="completed"}',
                    "values": "0 1 1 2",
                },
            ],
            "promql_expr_test": [
                {
                    "expr": "zone_group:dns_record_group_active:sum",
                    "eval_time": "1m",
                    "exp_samples": [
                        {"labels": SUM + '{zone="example.com",group="group-a"}', "value": 2},
                        {"labels": SUM + '{zone="example.com",group="group-b"}', "value": 0},
                    ],
                },
                {
                    "expr": "zone_group:dns_record_group_active:sum",
                    "eval_time": "3m",
                    "exp_samples": [
                        {"labels": SUM + '{zone="example.com",group="group-a"}', "value": 0},
                        {"labels": SUM + '{zone="example.com",group="group-b"}', "value": 2},
                    ],
                },
                {
                    "expr": "zone_group:dns_record_group_info:count",
                    "eval_time": "3m",
                    "exp_samples": [],
                },
            ],
        },
    ]


@needs_promtool
def test_promtool_test_rules(tmp_path: Path) -> None:
    doc = {
        "rule_files": [str(p) for p in RULES],
        "evaluation_interval": "1m",
        "tests": rule_tests(),
    }
    test_file = tmp_path / "orchestrator_rules_test.yml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_promtool_test_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    """The rule tests can fail: weaken the stuck alert and they must."""
    broken = []
    for path in RULES:
        text = path.read_text().replace("for: 10m", "for: 30m")
        copy = tmp_path / path.name
        copy.write_text(text)
        broken.append(str(copy))
    test_file = tmp_path / "t.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": broken, "evaluation_interval": "1m", "tests": rule_tests()[:1]})
    )
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "OrchestratorFailoverStuck" in proc.stdout + proc.stderr


def dashboard_exprs(doc: dict[str, Any]) -> list[str]:
    out = []
    for panel in doc.get("panels", []):
        for sub in [panel, *panel.get("panels", [])]:
            out += [t["expr"] for t in sub.get("targets", []) if "expr" in t]
    return out


def test_the_grafana_dashboard_is_valid_and_uses_known_metrics() -> None:
    assert DASHBOARDS, "docs/grafana/ has no dashboard"
    recorded = {r["record"] for r in rules() if "record" in r}
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        assert doc["title"] and doc["uid"] and doc["schemaVersion"] >= 30
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)), "panel ids repeat"
        exprs = dashboard_exprs(doc)
        assert len(exprs) >= 8
        used = set()
        for expr in exprs:
            for metric in re.findall(METRIC_RE, expr):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                assert metric in METRIC_NAMES or base in METRIC_NAMES or metric in recorded, (
                    path.name,
                    metric,
                )
                used.add(base if base in METRIC_NAMES else metric)
        for name in (
            "dns_record_group_active",
            "dns_record_inactive_group_cleanup_total",
            "orchestrator_lease_held",
        ):
            assert name in used, name
        variables = {v["name"] for v in doc["templating"]["list"]}
        assert {"datasource", "stack"} <= variables
