"""The policy pack's pulumi-policy patches (adapters/pulumi/policy_speed.py): same answers, less work.

The pack's own servicer is built from the real policies (policy/__main__.py) and asked as the
engine asks it; each patched answer is compared with the library's own answer to the same request.
"""

from __future__ import annotations

import threading
from concurrent import futures
from importlib.metadata import version
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as pp
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE

from orchestrator.adapters.pulumi import policy_speed
from orchestrator.domain.desired import desired_state
from tests.unit.test_policies_pack import pack, topology

RECORD_TYPE = "orchestrator:dns:RecordSet"
STACK_URN = "urn:pulumi:s::orchestrator::pulumi:pulumi:Stack::orchestrator-s"


def servicer(policies: list[Any] | None = None) -> Any:
    built = policies or pack.build_policies(pack.load_thresholds())
    return pp._PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", built, EnforcementLevel.MANDATORY)


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(props)
    return out


def resource(rtype: str, name: str, props: dict[str, Any], **extra: Any) -> Any:
    urn = f"urn:pulumi:s::orchestrator::{rtype}::{name}"
    return analyzer_pb2.AnalyzerResource(type=rtype, urn=urn, name=name, properties=struct(props), **extra)


def analyze_request(row: Any) -> Any:
    return analyzer_pb2.AnalyzeRequest(type=row.type, urn=row.urn, name=row.name, properties=row.properties)


def stack_request(active: list[str], unknown: bool = False) -> Any:
    records = desired_state(topology(), active).all()
    rows = [resource("pulumi:pulumi:Stack", "orchestrator-s", {"recordSets": [r.key for r in records]})]
    for r in records:
        props = {"zone": r.zone, "name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values)}
        if unknown and r.type == "A":
            props["values"] = UNKNOWN_ARRAY_VALUE
        rows.append(resource(RECORD_TYPE, r.key, props, parent=STACK_URN, dependencies=[STACK_URN]))
    return analyzer_pb2.AnalyzeStackRequest(resources=rows)


def test_pinned_to_the_measured_pulumi_policy():
    # When this fails, pulumi-policy moved: re-measure, then move MEASURED_ON with it.
    assert version("pulumi-policy") == policy_speed.MEASURED_ON
    assert policy_speed.apply() is True
    assert policy_speed.apply() is True  # twice is once
    assert pp._PolicyAnalyzerServicer.AnalyzeStack is policy_speed._analyze_stack


@pytest.mark.parametrize("unknown", [False, True], ids=["known", "unknown-values"])
def test_analyze_stack_answers_as_the_library_does(unknown):
    request = stack_request(["group-a", "group-b"], unknown=unknown)
    original = policy_speed.ORIGINALS["AnalyzeStack"](servicer(), request, None)
    patched = policy_speed._analyze_stack(servicer(), request, None)
    # Without the measured config most policies refuse: many diagnostics to compare, in order.
    assert len(original.diagnostics) >= 3
    assert patched == original


def test_analyze_stack_decodes_the_stack_once_and_links_parents_and_dependencies(monkeypatch):
    built = 0
    real_view_of = pack.view_of

    def counting_view_of(resources: Any) -> Any:
        nonlocal built
        built += 1
        return real_view_of(resources)

    monkeypatch.setattr(pack, "view_of", counting_view_of)
    policy_speed._analyze_stack(servicer(), stack_request(["group-a"]), None)
    assert built == 1  # eight policies, one view
    policy_speed.ORIGINALS["AnalyzeStack"](servicer(), stack_request(["group-b"]), None)
    assert built == 1 + len(pack.POLICIES)  # the library hands each policy its own copy

    resources = policy_speed.stack_resources(servicer(), stack_request(["group-a"]).resources)
    stack, first = resources[0], resources[1]
    assert first.parent is stack and first.dependencies == [stack]
    assert first.props["zone"] and stack.parent is None


def test_the_pack_served_in_another_process_answers_as_the_pack_does():
    """policy/__main__.py's analyzer(), which the language host serves in its own process."""
    in_host = pack.analyzer()
    assert in_host is not None
    # As pp.PolicyPack builds it (version "0.0.1": the CLI takes the pack's from its YAML).
    policies = pack.build_policies(pack.load_thresholds())
    served = pp._PolicyAnalyzerServicer(
        pack.PACK_NAME, "0.0.1", policies, EnforcementLevel.MANDATORY, None, pack.DESCRIPTION
    )
    assert in_host.GetAnalyzerInfo(None, None) == served.GetAnalyzerInfo(None, None)
    for active in (["group-a"], ["group-a", "group-b"]):
        request = stack_request(active)
        assert in_host.AnalyzeStack(request, None) == served.AnalyzeStack(request, None)


def test_the_pack_in_the_host_leaves_the_programs_runtime_settings_alone(monkeypatch):
    """pulumi-policy configures the SDK's settings from these variables at every call. In the
    language host, the program has settings of its own, set on its own thread: the pack's
    calls, served on other threads, must not change what the program's thread sees."""
    import pulumi.runtime.settings as sdk

    for name, value in (("PULUMI_PROJECT", "pack"), ("PULUMI_STACK", "pack"), ("PULUMI_DRY_RUN", "true")):
        monkeypatch.setenv(name, value)
    analyzer = pack.analyzer()
    seen: list[tuple[str | None, str | None]] = []

    def program() -> None:
        sdk.reset_options(project="program", stack="dev", preview=False)
        with futures.ThreadPoolExecutor(max_workers=1) as grpc_thread:
            grpc_thread.submit(analyzer.AnalyzeStack, stack_request(["group-a"]), None).result()
            pack_saw = grpc_thread.submit(lambda: (sdk.SETTINGS.project, sdk.SETTINGS.stack)).result()
        assert pack_saw == ("pack", "pack")  # the library did configure, on its own thread
        seen.append((sdk.SETTINGS.project, sdk.SETTINGS.stack))

    thread = threading.Thread(target=program)
    thread.start()
    thread.join(timeout=30)
    assert seen == [("program", "dev")]


def test_another_pulumi_policy_runs_the_pack_as_a_process_of_its_own(monkeypatch):
    monkeypatch.setattr(policy_speed, "apply", lambda: False)
    assert pack.analyzer() is None
