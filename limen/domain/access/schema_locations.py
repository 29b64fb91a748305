"""Graph's `namedLocation` JSON: `ipNamedLocation` and `countryNamedLocation` (SPEC.md §2.7).

`compliantNetworkNamedLocation` (Global Secure Access, beta) is accepted and stored so exports that
contain it import whole; Limen has no compliant networks, so it matches nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limen.domain.access.countries import COUNTRY_CODES, TRANSITIONAL
from limen.domain.access.schema_types import (
    Checker,
    Issue,
    ObjectType,
    PolicyInvalid,
    boolean,
    child,
    enum,
    item,
    objects,
    string,
    strings,
)

#: SPEC.md §2.7: at most 2000 ranges per location, and each prefix longer than /8.
MAX_IP_RANGES = 2000
MIN_PREFIX_LENGTH = 9
MAX_DISPLAY_NAME = 256

IP_NAMED_LOCATION = "#microsoft.graph.ipNamedLocation"
COUNTRY_NAMED_LOCATION = "#microsoft.graph.countryNamedLocation"
COMPLIANT_NETWORK_NAMED_LOCATION = "#microsoft.graph.compliantNetworkNamedLocation"

COUNTRY_LOOKUP_METHODS = ("clientIpAddress", "authenticatorAppGps")
DEFAULT_COUNTRY_LOOKUP = "clientIpAddress"

SERVER_SET = frozenset({"id", "createdDateTime", "modifiedDateTime", "deletedDateTime"})


def _check_cidr(version: int) -> Any:
    def check(checker: Checker, value: dict[str, Any], path: str) -> None:
        where = child(path, "cidrAddress")
        address: str = value["cidrAddress"]
        try:
            # Entra keeps ranges such as 10.0.0.4/27 as entered (host bits set); so do we.
            network = ipaddress.ip_network(address.strip(), strict=False)
        except ValueError:
            checker.error(where, f"'{address}' is not a CIDR range such as 203.0.113.0/24 or 2001:db8::/48")
            return
        if "/" not in address:
            checker.error(where, f"'{address}' has no prefix length; write it as {network.with_prefixlen}")
        elif network.version != version:
            checker.error(where, f"'{address}' is an IPv{network.version} range in an iPv{version}CidrRange")
        elif network.prefixlen < MIN_PREFIX_LENGTH:
            checker.error(where, f"'{address}' is too wide: the prefix must be longer than /8")

    return check


def _address_family(value: Mapping[str, Any]) -> str | None:
    # The family is plain from the address, so a range without @odata.type is not ambiguous.
    address = value.get("cidrAddress")
    if not isinstance(address, str):
        return None
    return "iPv6CidrRange" if ":" in address else "iPv4CidrRange"


IP_RANGE = ObjectType(
    "ipRange",
    subtypes=(
        ObjectType("iPv4CidrRange", {"cidrAddress": string(required=True)}, check=_check_cidr(4)),
        ObjectType("iPv6CidrRange", {"cidrAddress": string(required=True)}, check=_check_cidr(6)),
    ),
    infer=_address_family,
)


def _check_ip_location(checker: Checker, value: dict[str, Any], path: str) -> None:
    ranges: list[dict[str, Any]] = value["ipRanges"]
    if not ranges:
        checker.error(child(path, "ipRanges"), "needs at least one range")
    elif len(ranges) > MAX_IP_RANGES:
        checker.error(child(path, "ipRanges"), f"has {len(ranges)} ranges; at most {MAX_IP_RANGES} are allowed")
    if value["isTrusted"] is None:
        value["isTrusted"] = False


def _check_country_location(checker: Checker, value: dict[str, Any], path: str) -> None:
    codes: list[str] = value["countriesAndRegions"]
    for index, code in enumerate(codes):
        where = item(child(path, "countriesAndRegions"), index)
        upper = code.strip().upper()
        if upper not in COUNTRY_CODES:
            checker.error(where, f"'{code}' is not an ISO 3166-1 alpha-2 country code")
            continue
        if upper != code:
            checker.warn(where, f"'{code}' normalised to '{upper}'")
            codes[index] = upper
        if upper in TRANSITIONAL:
            checker.warn(where, f"'{upper}' is no longer an ISO 3166 code; no address maps to it")
    if value["includeUnknownCountriesAndRegions"] is None:
        value["includeUnknownCountriesAndRegions"] = False
    if not codes and not value["includeUnknownCountriesAndRegions"]:
        checker.warn(child(path, "countriesAndRegions"), "is empty: the location matches no address")
    if value["countryLookupMethod"] is None:
        value["countryLookupMethod"] = DEFAULT_COUNTRY_LOOKUP


def _display_name() -> Any:
    return string(required=True, max_length=MAX_DISPLAY_NAME)


NAMED_LOCATION = ObjectType(
    "namedLocation",
    subtypes=(
        ObjectType(
            "ipNamedLocation",
            {"displayName": _display_name(), "ipRanges": objects(IP_RANGE, required=True), "isTrusted": boolean()},
            ignored=SERVER_SET,
            check=_check_ip_location,
        ),
        ObjectType(
            "countryNamedLocation",
            {
                "displayName": _display_name(),
                "countriesAndRegions": strings(),
                "includeUnknownCountriesAndRegions": boolean(),
                "countryLookupMethod": enum("countryLookupMethodType", COUNTRY_LOOKUP_METHODS),
            },
            ignored=SERVER_SET,
            check=_check_country_location,
        ),
        ObjectType(
            "compliantNetworkNamedLocation",
            {
                "displayName": _display_name(),
                "compliantNetworkType": enum("compliantNetworkType", ("allTenantCompliantNetworks",)),
                "isTrusted": boolean(),
            },
            ignored=SERVER_SET,
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class ValidatedNamedLocation:
    """A valid named location: normalised Graph JSON (with its `@odata.type`) and warnings."""

    document: dict[str, Any]
    warnings: tuple[Issue, ...]
    #: The `id` the input carried, which an import keeps when it is a free GUID.
    id: str | None = None

    @property
    def odata_type(self) -> str:
        return str(self.document["@odata.type"])

    @property
    def is_trusted(self) -> bool:
        return bool(self.document.get("isTrusted"))


def validate_named_location(doc: Mapping[str, Any]) -> ValidatedNamedLocation:
    """Validate and normalise an ip/country named location; raise PolicyInvalid(path, reason) if invalid."""
    if not isinstance(doc, Mapping):
        raise PolicyInvalid("", f"a named location must be a JSON object, not {type(doc).__name__}")
    checker = Checker()
    document = checker.object(dict(doc), NAMED_LOCATION, "")
    checker.raise_if_invalid()
    assert document is not None
    raw_id = doc.get("id")
    return ValidatedNamedLocation(
        document=document,
        warnings=tuple(checker.warnings),
        id=raw_id if isinstance(raw_id, str) and raw_id else None,
    )


def is_named_location(doc: Mapping[str, Any]) -> bool:
    """Whether a JSON object from an export file is a named location rather than a policy."""
    declared = str(doc.get("@odata.type", "")).lower()
    if declared.endswith("namedlocation"):
        return True
    return "conditions" not in doc and any(
        key in doc for key in ("ipRanges", "countriesAndRegions", "locationType", "compliantNetworkType")
    )
