"""Kuadrant dns-operator formats: literal strings, written canonically, read leniently.

Reference values come from github.com/kuadrant/dns-operator (paths below). Where upstream
has no vector, the value was computed with our implementation of the upstream algorithm
(internal/common/hash/hash.go: SHA-224, martinlindhe/base36 EncodeBytes, lower case,
first 8), which reproduces both upstream vectors exactly.
"""

from __future__ import annotations

import hashlib

import pytest

from orchestrator.domain.kuadrant import (
    FormatError,
    RegistryEntry,
    active_groups_txt_name,
    base36,
    format_active_groups,
    owner_hash,
    parse_active_groups_txt,
    parse_labels,
    parse_registry_txt,
    registry_txt_name,
    registry_txt_value,
    serialize_labels,
    unquote_txt,
)

# --- owner hash -------------------------------------------------------------------------


def test_full_base36_hash_matches_upstream_vector():
    # internal/common/hash/hash_test.go TestToBase36Hash
    digest = hashlib.sha224(b"9c8f876c-4ddc-44a3-9842-460f97e6c037").digest()
    assert base36(digest) == "32ah7xkbrefse005knttdnvhaybhyeezwh0d6cln7r6l"


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("9c8f876c-4ddc-44a3-9842-460f97e6c037", "32ah7xkb"),  # hash_test.go TestToBase36HashLen
        ("owner1", "2tqs20a7"),  # registry/name_mapper_test.go TestToTXTName: foo-2tqs20a7-a-example.com
        ("group-a", "d68s2bp8"),  # computed with the upstream algorithm (see module docstring)
        ("group-b", "xos7jddv"),  # computed with the upstream algorithm
    ],
)
def test_owner_hash(owner, expected):
    assert owner_hash(owner) == expected


def test_base36_keeps_leading_zero_bytes_like_martinlindhe():
    assert base36(b"\x00\x00\x01") == "001"
    assert base36(b"\x00") == "0"
    assert base36(b"") == ""
    assert base36(bytes([35])) == "z"
    assert base36(bytes([36])) == "10"


# --- registry names and values ----------------------------------------------------------


def test_registry_txt_name_matches_upstream_mapper():
    # name_mapper_test.go TestToTXTName uses prefix "foo-"; the operator's prefix is "kuadrant-"
    assert registry_txt_name("owner1", "A", "example.com") == "kuadrant-2tqs20a7-a-example.com"
    assert (
        registry_txt_name("group-a", "AAAA", "www.app.example.test")
        == "kuadrant-d68s2bp8-aaaa-www.app.example.test"
    )
    assert (
        registry_txt_name("group-b", "CNAME", "api.svc.example.test")
        == "kuadrant-xos7jddv-cname-api.svc.example.test"
    )


def test_registry_txt_name_replaces_leading_wildcard():
    assert (
        registry_txt_name("group-a", "A", "*.app.example.test")
        == "kuadrant-d68s2bp8-a-wildcard.app.example.test"
    )


def test_registry_txt_value_is_sorted_external_dns_labels():
    assert (
        registry_txt_value("group-a", "group-a", ["10.0.0.2", "10.0.0.1"])
        == "heritage=external-dns,external-dns/group=group-a,external-dns/owner=group-a,"
        "external-dns/targets=10.0.0.1;10.0.0.2,external-dns/version=1"
    )


def test_serialize_labels_puts_heritage_first_then_sorted_keys():
    assert (
        serialize_labels({"version": "1", "owner": "o"})
        == "heritage=external-dns,external-dns/owner=o,external-dns/version=1"
    )


# --- active groups ----------------------------------------------------------------------


def test_active_groups_record_is_sorted_and_unique_as_kuadrant_cli_writes():
    # cmd/plugin/failover/shared_test.go TestGenerateGroupTXTRecord
    assert active_groups_txt_name("app.example.test") == "kuadrant-active-groups.app.example.test"
    assert format_active_groups(["group-b", "group-a", "group-b"]) == "version=1;groups=group-a&&group-b"
    assert format_active_groups(["group1"]) == "version=1;groups=group1"
    assert format_active_groups([]) == "version=1"
    assert format_active_groups([""]) == "version=1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version=1;groups=group-a&&group-b", ("group-a", "group-b")),
        ('"version=1;groups=group1"', ("group1",)),  # quoted, as dig prints it
        ("groups=us-east&&us-west;version=1", ("us-east", "us-west")),  # controller's documented order
        (" version = 1 ; groups = b && a ", ("a", "b")),
        ('"version=1;" "groups=a&&b"', ("a", "b")),  # zone-file form, two character-strings
        ("groups=b&&a&&b", ("a", "b")),  # no version: the controller accepts it
        ("version=1", ()),
        ("version=1;groups=", ()),
        ("", ()),
        ("version=1;groups=a;other=x;junk", ("a",)),
    ],
)
def test_parse_active_groups_txt_is_lenient(text, expected):
    assert parse_active_groups_txt(text) == expected


def test_parse_active_groups_txt_refuses_unknown_version():
    with pytest.raises(FormatError, match="version '2'"):
        parse_active_groups_txt("version=2;groups=a")


def test_active_groups_round_trip():
    value = format_active_groups(["b", "a"])
    assert parse_active_groups_txt(value) == ("a", "b")
    assert format_active_groups(parse_active_groups_txt(value)) == value


# --- registry reader --------------------------------------------------------------------


def test_parse_registry_txt_reads_upstream_shaped_record():
    # label order as in registry/group_test.go and cmd/plugin/failover/shared_test.go
    entry = parse_registry_txt(
        "Kuadrant-2tqs20a7-A-Foo.Example.org.",
        '"heritage=external-dns,external-dns/owner=owner1,external-dns/version=1,'
        'external-dns/group=group1,external-dns/targets=5.6.7.8;1.2.3.4"',
    )
    assert entry.owner_hash == "2tqs20a7"
    assert entry.type == "A"
    assert entry.host == "foo.example.org"
    assert entry.group == "group1"
    assert entry.owner == "owner1"
    assert entry.targets == ("1.2.3.4", "5.6.7.8")
    assert entry.labels["version"] == "1"
    assert entry.hash_matches_owner


def test_parse_registry_txt_undoes_wildcard_and_tolerates_spaces():
    entry = parse_registry_txt(
        "kuadrant-d68s2bp8-cname-wildcard.app.example.test",
        "heritage=external-dns, external-dns/owner=group-a ,external-dns/targets=lb.example.net",
    )
    assert entry.host == "*.app.example.test"
    assert entry.type == "CNAME"
    assert entry.group is None  # ungrouped owner
    assert entry.targets == ("lb.example.net",)


def test_parse_registry_txt_flags_a_hash_that_is_not_the_owners():
    entry = parse_registry_txt(
        "kuadrant-11111111-a-x.example.test", "heritage=external-dns,external-dns/owner=o"
    )
    assert not entry.hash_matches_owner


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("kuadrant-2tqs20a7-a-x.example", "some-random-text", "heritage"),
        ("kuadrant-2tqs20a7-a-x.example", "heritage=other,external-dns/owner=o", "heritage 'other'"),
        ("www.example.test", "heritage=external-dns", "does not start"),
        ("kuadrant-2tqs20a7-x.example", "heritage=external-dns", "is not kuadrant-"),
        ("kuadrant-2tqs-a-x.example", "heritage=external-dns", "is not kuadrant-"),
        ("kuadrant-2tqs20a7-txt-x.example", "heritage=external-dns", "not a registry record type"),
    ],
)
def test_parse_registry_txt_refuses_foreign_records(name, value, why):
    with pytest.raises(FormatError, match=why):
        parse_registry_txt(name, value)


def test_registry_entry_round_trip_through_the_reader():
    entry = RegistryEntry.build(
        owner="group-a",
        group="group-a",
        rtype="A",
        host="*.app.example.test",
        targets=["10.0.0.2", "10.0.0.1"],
    )
    assert entry.txt_name == "kuadrant-d68s2bp8-a-wildcard.app.example.test"
    assert parse_registry_txt(entry.txt_name, entry.txt_value) == entry


def test_parse_labels_skips_tokens_that_are_not_one_pair():
    labels = parse_labels("heritage=external-dns,external-dns/a=1,junk,external-dns/b=x=y,external-dns/c=3")
    assert labels == {"a": "1", "c": "3"}


def test_unquote_txt_handles_escapes_and_bare_text():
    assert unquote_txt(r'"a \"b\" \\c"') == 'a "b" \\c'
    assert unquote_txt("  bare text ") == "bare text"
    assert unquote_txt('"ab" "cd"') == "abcd"
