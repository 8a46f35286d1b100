"""The plugin's value conversions, and the language host's config file (no size limit)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.provider.experimental.server import ProviderServicer

from orchestrator.adapters.pulumi.provider.recordset import outputs, plan_diff
from orchestrator.adapters.pulumi.provider.values import UNKNOWN, plain_map, struct_plain, to_struct, wire_map


def test_values_round_trip_and_the_pickled_provider_is_dropped():
    props = {"zone": "z.test", "ttl": 30, "values": ["10.0.0.1"], "settings": {"server": "dev"}, "ok": True}
    wired = wire_map(dict(props, __provider="pickle"))
    back = plain_map(wired)
    assert back == dict(props, ttl=30.0)
    assert "__provider" not in back


def test_an_unknown_value_stays_unknown():
    back = plain_map({"promotionTokens": PropertyValue([PropertyValue.computed()])})
    assert back["promotionTokens"] == [UNKNOWN]
    assert isinstance(wire_map({"t": UNKNOWN})["t"].value, Computed)


def test_a_ttl_that_travelled_as_a_float_is_not_a_change_and_outputs_are_canonical():
    olds = {"backend": "powerdns", "zone": "z", "name": "a.z", "type": "A", "ttl": 30, "values": ["10.0.0.2"]}
    news = dict(olds, ttl=30.0, values=["10.0.0.2"])
    assert plan_diff(olds, news) == ([], [])
    assert outputs(dict(news, values=["10.0.0.2", "10.0.0.1", "10.0.0.2"])) == dict(
        olds, values=["10.0.0.1", "10.0.0.2"]
    )


def test_the_program_gets_a_config_larger_than_one_environment_string(tmp_path: Path):
    config = {"test:blob": "h" * (1024 * 1024)}  # Linux caps one environment string at 128 KiB
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config) + "\n" + json.dumps(["test:secret"]))
    runner = tmp_path / "runner.py"  # stands in for pulumi-language-python-exec
    runner.write_text(
        "import os, sys, json\n"
        "print(len(json.loads(os.environ['PULUMI_CONFIG'])['test:blob']), "
        "os.environ['PULUMI_CONFIG_SECRET_KEYS'], sys.argv[1:])\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.adapters.pulumi.langhost_exec",
            str(config_file),
            str(runner),
            "--x",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split(" ", 1)[0] == str(1024 * 1024)
    assert '["test:secret"]' in out.stdout and "['--x']" in out.stdout
    assert not config_file.exists()  # it may hold decrypted secrets: deleted once read


# -- the wire fast path (Servicer.Check/Diff/Read) --------------------------------------------
RECORD_URN = "urn:pulumi:s::orchestrator::orchestrator:dns:RecordSet::www-a"
OLDS = {
    "backend": "powerdns",
    "zone": "example.test",
    "name": "www.example.test",
    "type": "A",
    "ttl": 30,
    "values": ["127.0.0.1"],
    "settings": {"server": "dev"},
}


def _servicer(provider: object) -> object:
    from orchestrator.adapters.pulumi.provider.server import OrchestratorProvider, Servicer

    return Servicer([], "0", provider or OrchestratorProvider(), engine_address="")


def test_plain_wire_maps_are_read_straight_from_protobuf():
    wired = to_struct(OLDS)
    assert struct_plain(wired) == dict(OLDS, ttl=30.0)  # numbers are floats on the wire
    assert struct_plain(wired) == plain_map(PropertyValue.unmarshal_map(wired))


def test_secrets_unknowns_and_dynamic_state_go_to_the_sdks_path():
    secret = PropertyValue.marshal_map({"k": PropertyValue("x").with_secret(True)})
    unknown = to_struct({"k": ["04da6b54-80e4-46f7-96ec-b56ff0331ba9"]})  # the engine's unknown
    assert struct_plain(secret) is None
    assert struct_plain(unknown) is None
    assert struct_plain(to_struct({"__provider": "pickled"})) is None


def test_fast_diff_answers_as_the_sdk_path_does():
    from pulumi.runtime.proto import provider_pb2

    servicer = _servicer(None)
    for news in (OLDS, dict(OLDS, values=["127.0.0.2"]), dict(OLDS, name="other.example.test")):
        request = provider_pb2.DiffRequest(urn=RECORD_URN, olds=to_struct(OLDS), news=to_struct(news))
        fast = asyncio.run(servicer.Diff(request, None))
        slow = asyncio.run(ProviderServicer.Diff(servicer, request, None))
        assert fast == slow
    assert fast.replaces == ["name"] and fast.deleteBeforeReplace  # the last one: another record set


def test_fast_read_answers_from_the_zone_and_reports_a_gone_record():
    from pulumi.runtime.proto import provider_pb2

    from orchestrator.adapters.pulumi.provider.server import OrchestratorProvider

    class Zone:
        def read_zone(self, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
            return {("www.example.test", "A"): (60, ["127.0.0.9"])}

    provider = OrchestratorProvider()
    provider._clients[("powerdns", "example.test", json.dumps(OLDS["settings"], sort_keys=True))] = Zone()
    servicer = _servicer(provider)
    request = provider_pb2.ReadRequest(
        id="x", urn=RECORD_URN, properties=to_struct(OLDS), inputs=to_struct(OLDS)
    )
    fast = asyncio.run(servicer.Read(request, None))
    assert struct_plain(fast.properties)["values"] == ["127.0.0.9"] and fast.id == "x"
    assert fast == asyncio.run(ProviderServicer.Read(servicer, request, None))
    gone = provider_pb2.ReadRequest(
        id="y",
        urn=RECORD_URN,
        properties=to_struct(dict(OLDS, name="gone.example.test")),
        inputs=to_struct(OLDS),
    )
    assert asyncio.run(servicer.Read(gone, None)).id == ""
