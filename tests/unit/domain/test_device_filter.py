"""Filter for devices: the rule language of SPEC.md §3.8 and Limen's case rule (§10)."""

from __future__ import annotations

import pytest

from limen.domain.access.device_filter import (
    MAX_RULE_LENGTH,
    PROPERTIES,
    DeviceFilter,
    Mode,
    Operator,
    RuleSyntaxError,
    compile_filter,
    normalize_device,
    parse,
)

LAPTOP = {
    "deviceId": "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb",
    "displayName": "CPAWT-0042",
    "deviceOwnership": "Company",
    "enrollmentProfileName": "Shared Device Profile",
    "isCompliant": True,
    "isManaged": True,
    "manufacturer": "Lenovo",
    "mdmAppId": "0000000a-0000-0000-c000-000000000000",
    "model": "ThinkPad X1 Carbon",
    "operatingSystem": "Windows",
    "operatingSystemVersion": "10.0.22631",
    "physicalIds": ["[ZTDId]:abc", "[OrderId]:Kiosk"],
    "profileType": "RegisteredDevice",
    "systemLabels": ["M365Managed"],
    "trustType": "AzureAD",
    "extensionAttributes": {"extensionAttribute1": "Finance"},
}


def matches(rule: str, device: dict[str, object] | None = LAPTOP) -> bool:
    return parse(rule).matches(device)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('device.displayName -eq "CPAWT-0042"', True),
        ('device.displayName -ne "CPAWT-0042"', False),
        ('device.displayName -startsWith "CPAWT"', True),
        ('device.displayName -notStartsWith "CPAWT"', False),
        ('device.displayName -endsWith "0042"', True),
        ('device.displayName -notEndsWith "0042"', False),
        ('device.displayName -contains "WT-00"', True),
        ('device.displayName -notContains "WT-00"', False),
        ('device.displayName -in ["x", "CPAWT-0042"]', True),
        ('device.displayName -notIn ["x", "CPAWT-0042"]', False),
        ('device.deviceId -eq "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"', True),
        ('device.mdmAppId -in ["0000000a-0000-0000-c000-000000000000"]', True),
        ('device.deviceOwnership -eq "Company"', True),
        ('device.enrollmentProfileName -eq "Shared Device Profile"', True),
        ("device.isCompliant -eq True", True),
        ("device.isCompliant -ne True", False),
        ("device.isCompliant -eq False", False),
        ('device.manufacturer -startsWith "Len"', True),
        ('device.model -contains "X1"', True),
        ('device.operatingSystem -eq "Windows"', True),
        ('device.operatingSystemVersion -startsWith "10.0.2"', True),
        ('device.profileType -eq "RegisteredDevice"', True),
        ('device.trustType -eq "AzureAD"', True),
        ('device.trustType -ne "ServerAD"', True),
        ('device.extensionAttribute1 -eq "Finance"', True),
    ],
)
def test_each_operator_on_a_registered_device(rule: str, expected: bool) -> None:
    assert matches(rule) is expected


def test_collection_properties_use_whole_element_membership() -> None:
    assert matches('device.physicalIds -contains "[ZTDId]:abc"')
    # -contains on a collection is not a substring test (SPEC §3.8).
    assert not matches('device.physicalIds -contains "[ZTDId]"')
    assert matches('device.physicalIds -notContains "[ZTDId]"')
    assert matches('device.systemLabels -contains "M365Managed"')
    assert not matches('device.systemLabels -notContains "M365Managed"')


def test_names_operators_and_values_compare_case_insensitively() -> None:
    # SPEC §10: property names, operator names, string values and True/False.
    assert matches('DEVICE.DISPLAYNAME -EQ "cpawt-0042"')
    assert matches('device.trustType -EQ "azuread"')
    assert matches("device.isCompliant -eq TRUE")
    assert matches('device.isCompliant -eq "true"')
    assert matches('device.displayName -IN ["cpawt-0042"]')
    assert matches('device.displayName -startswith "cpa"')


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    # false -and true -or true  ==  (false -and true) -or true  ==  true
    assert matches('device.model -eq "x" -and device.trustType -eq "AzureAD" -or device.isCompliant -eq True')
    # false -and (true -or true)  ==  false
    assert not matches('device.model -eq "x" -and (device.trustType -eq "AzureAD" -or device.isCompliant -eq True)')
    assert matches('((device.model -contains "X1"))')


@pytest.mark.parametrize(
    ("rule", "unregistered"),
    [
        ('device.displayName -eq "x"', False),
        ('device.displayName -startsWith "x"', False),
        ('device.displayName -endsWith "x"', False),
        ('device.displayName -contains "x"', False),
        ('device.displayName -in ["x"]', False),
        ("device.isCompliant -eq True", False),
        ("device.isCompliant -eq False", False),
        ('device.displayName -ne "x"', True),
        ('device.displayName -notStartsWith "x"', True),
        ('device.displayName -notEndsWith "x"', True),
        ('device.displayName -notContains "x"', True),
        ('device.displayName -notIn ["x"]', True),
        ("device.isCompliant -ne True", True),
        ('device.systemLabels -contains "x"', False),
        ('device.systemLabels -notContains "x"', True),
    ],
)
def test_null_properties_positive_operators_false_negative_true(rule: str, unregistered: bool) -> None:
    """SPEC §3.8's table: on an unregistered device every property is null."""
    assert parse(rule).matches(None) is unregistered
    # A registered device that lacks the property behaves the same way.
    assert parse(rule).matches({"trustType": "Workplace"}) is unregistered


def test_extension_attributes_only_count_on_managed_compliant_or_hybrid_devices() -> None:
    rule_positive = parse('device.extensionAttribute1 -eq "Finance"')
    rule_negative = parse('device.extensionAttribute1 -ne "Sales"')
    unmanaged = {"trustType": "Workplace", "isCompliant": False, "extensionAttribute1": "Finance"}
    # Registered but neither Intune-managed, compliant nor hybrid joined: never matches (SPEC §3.8).
    assert not rule_positive.matches(unmanaged)
    assert not rule_negative.matches(unmanaged)
    for visible in ({"isManaged": True}, {"isCompliant": True}, {"trustType": "ServerAD"}):
        device = {**unmanaged, **visible}
        assert rule_positive.matches(device)
        assert rule_negative.matches(device)
    # Unregistered: plain null semantics.
    assert not rule_positive.matches(None)
    assert rule_negative.matches(None)


def test_include_and_exclude_modes_with_an_unknown_device() -> None:
    positive = parse('device.isCompliant -eq True -or device.trustType -eq "ServerAD"')
    negative = parse('device.trustType -ne "ServerAD"')
    # SPEC §3.8: include applies the policy to devices the rule matches, exclude to the others.
    assert DeviceFilter(Mode.INCLUDE, positive).in_scope(None) is False
    assert DeviceFilter(Mode.EXCLUDE, positive).in_scope(None) is True
    assert DeviceFilter(Mode.INCLUDE, negative).in_scope(None) is True
    assert DeviceFilter(Mode.EXCLUDE, negative).in_scope(None) is False
    compliant = normalize_device({"isCompliant": True})
    assert DeviceFilter(Mode.EXCLUDE, positive).in_scope(compliant) is False
    assert DeviceFilter(Mode.INCLUDE, positive).in_scope(compliant) is True


def test_compile_filter_reads_the_graph_object() -> None:
    compiled = compile_filter({"mode": "Exclude", "rule": "device.isCompliant -eq True"})
    assert compiled.mode is Mode.EXCLUDE
    with pytest.raises(ValueError, match="mode"):
        compile_filter({"mode": "both", "rule": "device.isCompliant -eq True"})
    with pytest.raises(RuleSyntaxError):
        compile_filter({"mode": "include", "rule": ""})


def test_escaped_quotes_inside_strings() -> None:
    assert matches('device.model -eq "15\\" screen"', {"model": '15" screen'})


def test_every_property_of_the_spec_is_known() -> None:
    names = {p.name for p in PROPERTIES.values()}
    assert {
        "deviceId",
        "displayName",
        "deviceOwnership",
        "enrollmentProfileName",
        "isCompliant",
        "manufacturer",
        "mdmAppId",
        "model",
        "operatingSystem",
        "operatingSystemVersion",
        "physicalIds",
        "profileType",
        "systemLabels",
        "trustType",
    } | {f"extensionAttribute{n}" for n in range(1, 16)} == names
    assert Operator.NE.negative and not Operator.EQ.negative


@pytest.mark.parametrize(
    ("rule", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ('device.colour -eq "red"', 7, "Unknown device property"),
        ('displayName -eq "x"', 0, "Expected a device property"),
        ('device.displayName -equals "x"', 19, "Expected an operator"),
        ("device.displayName", 18, "Expected an operator"),
        ('device.isCompliant -startsWith "T"', 19, "not supported for isCompliant"),
        ('device.physicalIds -eq "x"', 19, "not supported for physicalIds"),
        ('device.deviceOwnership -contains "x"', 23, "not supported for deviceOwnership"),
        ('device.displayName -eq "unterminated', 23, "Unterminated string"),
        ("device.displayName -eq x", 23, "Expected a double-quoted value"),
        ("device.displayName -eq", 22, "Expected a double-quoted value"),
        ('device.isCompliant -eq "maybe"', 23, "True or False"),
        ('device.displayName -in "x"', 23, "take an array"),
        ('device.displayName -in ["x" "y"]', 28, "Expected ',' or ']'"),
        ('device.displayName -in ["x",]', 28, "Expected a double-quoted value in the array"),
        ("device.displayName -in []", 24, "empty"),
        ('device.displayName -eq "x" device.model -eq "y"', 27, "Expected -and, -or"),
        ('(device.displayName -eq "x"', 0, "'(' is never closed"),
        ('device.displayName -eq "x")', 26, "')' without a matching '('"),
        ('(device.displayName -eq "x" "y")', 28, "Expected ')'"),
        ('device.displayName -eq "x" -and', 31, "Expected a comparison"),
        ('device.displayName -eq "x" -or -and device.model -eq "y"', 31, "Expected a device property"),
    ],
)
def test_syntax_errors_name_the_position(rule: str, position: int, fragment: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse(rule)
    assert caught.value.position == position
    assert fragment in caught.value.message
    assert f"position {position}" in str(caught.value)


def test_rules_longer_than_3072_characters_are_refused() -> None:
    clause = 'device.displayName -eq "x" -or '
    rule = clause * (MAX_RULE_LENGTH // len(clause)) + 'device.model -eq "abcdefghijklmnopqrstuvwxyz"'
    assert len(rule) > MAX_RULE_LENGTH
    with pytest.raises(RuleSyntaxError) as caught:
        parse(rule)
    assert caught.value.position == MAX_RULE_LENGTH
    exactly = ('device.displayName -eq "' + "x" * MAX_RULE_LENGTH)[: MAX_RULE_LENGTH - 1] + '"'
    assert len(exactly) == MAX_RULE_LENGTH
    assert parse(exactly).matches({"displayName": exactly[24:-1]})


def test_every_rule_of_the_conformance_corpus_parses() -> None:
    rules = [
        'device.isCompliant -eq True -and device.deviceOwnership -eq "Company"',
        'device.displayName -startsWith "CPAWT2" -or device.displayName -startsWith "VPAW002"',
        'device.deviceOwnership -eq "Personal" -or device.deviceOwnership -eq "Company"',
        'device.enrollmentProfileName -eq "Shared Device Profile" -or device.enrollmentProfileName -eq "Shared"',
        'device.isCompliant -ne True -and device.trustType -ne "ServerAD"',
        'device.isCompliant -eq True -or device.trustType -eq "ServerAD"',
    ]
    for rule in rules:
        assert parse(rule).text == rule
