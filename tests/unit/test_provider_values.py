"""The plugin's value conversions, and the language host's config file (no size limit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pulumi.provider.experimental.property_value import Computed, PropertyValue

from orchestrator.adapters.pulumi.provider.recordset import outputs, plan_diff
from orchestrator.adapters.pulumi.provider.values import UNKNOWN, plain_map, wire_map


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
