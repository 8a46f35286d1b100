"""Stack history joined to the journal through update messages."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from orchestrator.adapters.files.journal import StepRecord, SwitchRecord
from orchestrator.services.history import (
    ROW_KEYS,
    changes_summary,
    join_history,
    parse_update_message,
    summaries_to_updates,
    update_message,
)

SW1 = "sw-20261121T101500Z-a1b2c3"
SW2 = "sw-20261122T090000Z-0f0f0f"
SW3 = "sw-20261123T080000Z-abcdef"
FP1 = "0123456789abcdef"
FP2 = "fedcba9876543210"


def record(
    id: str, created: str, status: str, fingerprint: str, frm: tuple, to: tuple, kind: str = "switch"
) -> SwitchRecord:
    return SwitchRecord(
        id=id,
        stack="local",
        kind=kind,
        from_groups=frm,
        to_groups=to,
        fingerprint=fingerprint,
        mode="planned",
        status=status,
        created_at=created,
        updated_at=created,
        steps=[StepRecord("flip-dns", "completed")],
    )


def test_update_message_is_the_documented_format() -> None:
    msg = update_message(SW1, FP1, ["group-a"], ["group-b"])
    assert msg == "orchestrator switch sw-20261121T101500Z-a1b2c3 plan=0123456789abcdef: group-a -> group-b"
    assert (
        update_message(SW1, FP1, ["group-a"], ["group-a", "group-b"], kind="add-active-group")
        == "orchestrator add-active-group sw-20261121T101500Z-a1b2c3 plan=0123456789abcdef: "
        "group-a -> group-a,group-b"
    )
    assert update_message(SW1, FP1, [], ["group-a"]).endswith(": (none) -> group-a")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((SW1, FP1, ["a"], ["b"], "swap"), "kind 'swap'"),
        (("sw-1", FP1, ["a"], ["b"]), "not a switch id"),
        ((SW1, "xyz", ["a"], ["b"]), "not 16 hex"),
    ],
)
def test_update_message_refuses_bad_parts(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        update_message(*args)


@pytest.mark.parametrize("kind", ["switch", "add-active-group", "remove-active-group", "rollback"])
def test_parse_inverts_update_message(kind: str) -> None:
    assert parse_update_message(update_message(SW2, FP2, ["group-a"], ["group-b"], kind=kind)) == (SW2, FP2)


@pytest.mark.parametrize(
    "msg",
    [
        None,
        "",
        "orchestrator up",
        "manual fix by bob",
        f"orchestrator switch {SW1}",  # no plan
        f"orchestrator switch {SW1} plan=0123456789abcdef0: a -> b",  # 17 hex digits
        f"orchestrator switch {SW1} plan=0123456789ABCDEF: a -> b",  # fingerprints are lower case
        f"orchestrator teleport {SW1} plan={FP1}: a -> b",
    ],
)
def test_parse_ignores_other_messages(msg: str | None) -> None:
    assert parse_update_message(msg) is None


def test_parse_finds_the_marker_inside_a_longer_message() -> None:
    msg = f"[ci] orchestrator switch {SW1} plan={FP1}: group-a -> group-b (resumed)"
    assert parse_update_message(msg) == (SW1, FP1)


def test_changes_summary() -> None:
    assert changes_summary({"same": 10, "update": 3, "create": 1, "read": 0, "import": 2}) == (
        "create=1 update=3 same=10 import=2"
    )
    assert changes_summary({}) is None
    assert changes_summary(None) is None
    assert changes_summary({"same": 0}) is None


def test_join_history_literal_rows() -> None:
    updates = [
        {  # the switch's update, as Pulumi's automation API reports it (naive UTC datetimes)
            "version": 3,
            "kind": "update",
            "result": "succeeded",
            "message": update_message(SW1, FP1, ["group-a"], ["group-b"]),
            "start_time": datetime(2026, 11, 21, 10, 15, 30),
            "end_time": datetime(2026, 11, 21, 10, 15, 40),
            "resource_changes": {"update": 3, "same": 9},
        },
        {  # someone ran `pulumi up` by hand
            "version": 4,
            "kind": "update",
            "result": "succeeded",
            "message": "hotfix ttl",
            "start_time": "2026-11-21T12:00:00.000Z",
            "end_time": "2026-11-21T12:00:05.000Z",
            "resource_changes": {"update": 1, "same": 11},
        },
        {  # a switch run elsewhere: its journal is not here
            "version": 5,
            "kind": "update",
            "result": "failed",
            "message": update_message(SW3, FP2, ["group-b"], ["group-a"]),
            "start_time": "2026-11-23T08:00:10Z",
            "end_time": None,
            "resource_changes": None,
        },
        {  # a refresh with no message
            "version": 2,
            "kind": "refresh",
            "result": "succeeded",
            "message": "",
            "start_time": datetime(2026, 11, 20, 9, 0),
            "end_time": datetime(2026, 11, 20, 9, 1),
            "resource_changes": {"same": 12},
        },
    ]
    records = [
        record(SW1, "2026-11-21T10:15:00.000Z", "completed", FP1, ("group-a",), ("group-b",)),
        # failed in preflight: never wrote, so no stack update
        record(SW2, "2026-11-22T09:00:00.000Z", "failed", FP2, ("group-b",), ("group-a",)),
    ]
    rows = join_history(updates, records)
    assert rows == [
        {
            "version": 5,
            "time": "2026-11-23T08:00:10.000Z",
            "kind": "update",
            "result": "failed",
            "switch_id": SW3,
            "fingerprint": FP2,
            "switch_kind": None,
            "from_groups": None,
            "to_groups": None,
            "status": None,
            "changes": None,
            "note": "no journal record here (switch run from another machine, or its journal pruned)",
        },
        {
            "version": None,
            "time": "2026-11-22T09:00:00.000Z",
            "kind": None,
            "result": None,
            "switch_id": SW2,
            "fingerprint": FP2,
            "switch_kind": "switch",
            "from_groups": ("group-b",),
            "to_groups": ("group-a",),
            "status": "failed",
            "changes": None,
            "note": "no stack update recorded for this switch",
        },
        {
            "version": 4,
            "time": "2026-11-21T12:00:00.000Z",
            "kind": "update",
            "result": "succeeded",
            "switch_id": None,
            "fingerprint": None,
            "switch_kind": None,
            "from_groups": None,
            "to_groups": None,
            "status": None,
            "changes": "update=1 same=11",
            "note": None,
        },
        {
            "version": 3,
            "time": "2026-11-21T10:15:30.000Z",
            "kind": "update",
            "result": "succeeded",
            "switch_id": SW1,
            "fingerprint": FP1,
            "switch_kind": "switch",
            "from_groups": ("group-a",),
            "to_groups": ("group-b",),
            "status": "completed",
            "changes": "update=3 same=9",
            "note": None,
        },
        {
            "version": 2,
            "time": "2026-11-20T09:00:00.000Z",
            "kind": "refresh",
            "result": "succeeded",
            "switch_id": None,
            "fingerprint": None,
            "switch_kind": None,
            "from_groups": None,
            "to_groups": None,
            "status": None,
            "changes": "same=12",
            "note": None,
        },
    ]
    assert all(tuple(r) == ROW_KEYS for r in rows)


def test_a_resumed_switch_joins_every_update_and_flags_a_changed_plan() -> None:
    msg = update_message(SW1, FP1, ["group-a"], ["group-b"])
    updates = [
        {
            "version": 7,
            "kind": "update",
            "result": "failed",
            "message": msg,
            "start_time": "2026-11-21T10:16:00Z",
        },
        {
            "version": 8,
            "kind": "update",
            "result": "succeeded",
            "message": msg,
            "start_time": "2026-11-21T10:20:00Z",
        },
        {
            "version": 9,
            "kind": "update",
            "result": "succeeded",
            "message": update_message(SW1, FP2, ["group-a"], ["group-b"]),
            "start_time": "2026-11-21T10:30:00Z",
        },
    ]
    rows = join_history(updates, [record(SW1, "2026-11-21T10:15:00.000Z", "completed", FP1, ("a",), ("b",))])
    assert [(r["version"], r["switch_id"], r["status"], r["note"]) for r in rows] == [
        (9, SW1, "completed", f"this update applied plan {FP2}; the journal records plan {FP1}"),
        (8, SW1, "completed", None),
        (7, SW1, "completed", None),
    ]


def test_join_history_of_nothing() -> None:
    assert join_history([], []) == []


def test_summaries_to_updates_reads_pulumi_update_summaries() -> None:
    summary = SimpleNamespace(
        version=3,
        kind="update",
        result="succeeded",
        message="m",
        start_time=datetime(2026, 11, 21, 10, 15),
        end_time=None,
        resource_changes={"same": 1},
        environment={"exec.kind": "auto.local"},
    )
    assert summaries_to_updates([summary]) == [
        {
            "version": 3,
            "kind": "update",
            "result": "succeeded",
            "message": "m",
            "start_time": datetime(2026, 11, 21, 10, 15),
            "end_time": None,
            "resource_changes": {"same": 1},
        }
    ]
