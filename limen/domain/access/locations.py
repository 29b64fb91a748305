"""Named locations as the engine sees them: is this sign-in's address (or country) in it? (SPEC.md §2.7)

Membership is three-valued: True, False, or None when the sign-in does not carry the input the
location needs (no IP address for an IP range, no country lookup, a GPS-based country location, a
Global Secure Access compliant network). The engine turns None into `notEnoughInformation`.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class IpRanges:
    """CIDR ranges as sorted, merged integer intervals: a lookup is one binary search per family."""

    v4_starts: tuple[int, ...] = ()
    v4_ends: tuple[int, ...] = ()
    v6_starts: tuple[int, ...] = ()
    v6_ends: tuple[int, ...] = ()

    @classmethod
    def of(cls, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> IpRanges:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for network in networks:
            (v4 if network.version == 4 else v6).append((int(network.network_address), int(network.broadcast_address)))
        s4, e4 = _merge(v4)
        s6, e6 = _merge(v6)
        return cls(s4, e4, s6, e6)

    @classmethod
    def union(cls, parts: Iterable[IpRanges]) -> IpRanges:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for part in parts:
            v4.extend(zip(part.v4_starts, part.v4_ends, strict=True))
            v6.extend(zip(part.v6_starts, part.v6_ends, strict=True))
        s4, e4 = _merge(v4)
        s6, e6 = _merge(v6)
        return cls(s4, e4, s6, e6)

    def __bool__(self) -> bool:
        return bool(self.v4_starts or self.v6_starts)


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple(m[0] for m in merged), tuple(m[1] for m in merged)


#: A dotted quad exactly as `ipaddress` accepts it: four decimal octets of ASCII digits without
#: leading zeros (each at most 255, checked after the match).
_DOTTED_QUAD = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")


def parse_address(value: str | None) -> IPAddress | None:
    """The address a sign-in came from, or None if absent or unparsable. IPv4-mapped IPv6 addresses
    (`::ffff:192.0.2.1`, what a dual-stack socket reports) count as the IPv4 address they carry."""
    if not value:
        return None
    text = value.strip()
    # Most sign-ins come over IPv4: building the address from its integer skips `ipaddress`'s
    # octet-by-octet parsing, a few microseconds per sign-in. Anything else takes the full parser.
    quad = _DOTTED_QUAD.fullmatch(text)
    if quad is not None:
        a, b, c, d = map(int, quad.groups())
        if a <= 255 and b <= 255 and c <= 255 and d <= 255:
            return ipaddress.IPv4Address(a << 24 | b << 16 | c << 8 | d)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Where:
    """The location inputs of one sign-in. `country_known` is False when no lookup was possible
    (What If without an address or a country); with a lookup, `country` None means the address maps
    to no country (SPEC §2.7 `includeUnknownCountriesAndRegions`)."""

    address: IPAddress | None
    country: str | None
    country_known: bool


@dataclass(frozen=True, slots=True)
class NamedLocation:
    id: str
    display_name: str
    #: "ip", "country", or the Graph type of a location Limen cannot evaluate.
    kind: str
    is_trusted: bool = False
    ranges: IpRanges = field(default_factory=IpRanges)
    countries: frozenset[str] = frozenset()
    include_unknown_countries: bool = False
    #: Why membership cannot be decided (a GPS lookup, a compliant network), or "" when it can.
    unevaluable: str = ""


def compile_location(location_id: str, document: Mapping[str, Any]) -> NamedLocation:
    """A Graph `namedLocation` document (ipNamedLocation, countryNamedLocation, or another type,
    which is kept but whose membership is unknown)."""
    kind = str(document.get("@odata.type") or "").rsplit(".", 1)[-1].lower()
    name = str(document.get("displayName") or "")
    lid = location_id.lower()
    if kind == "ipnamedlocation" or (not kind and "ipRanges" in document):
        networks = []
        for item in document.get("ipRanges") or ():
            cidr = item.get("cidrAddress") if isinstance(item, Mapping) else None
            try:
                networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
            except ValueError:
                continue  # validation rejects these on import; a stored one must not break sign-ins
        return NamedLocation(
            id=lid,
            display_name=name,
            kind="ip",
            is_trusted=document.get("isTrusted") is True,
            ranges=IpRanges.of(networks),
        )
    if kind == "countrynamedlocation" or (not kind and "countriesAndRegions" in document):
        method = str(document.get("countryLookupMethod") or "clientIpAddress")
        return NamedLocation(
            id=lid,
            display_name=name,
            kind="country",
            countries=frozenset(str(c).upper() for c in document.get("countriesAndRegions") or ()),
            include_unknown_countries=document.get("includeUnknownCountriesAndRegions") is True,
            unevaluable=(
                ""
                if method.lower() == "clientipaddress"
                else f"country by {method}: Limen looks countries up by the client's IP address only"
            ),
        )
    return NamedLocation(
        id=lid,
        display_name=name,
        kind=kind or "unknown",
        unevaluable=f"{document.get('@odata.type') or 'untyped named location'}: Limen cannot evaluate this kind",
    )


#: A sign-in's membership of every named location: (ids of those that contain it, ids of those whose
#: membership is unknown); the ids of the others are in neither.
Membership = tuple[frozenset[str], frozenset[str]]
_NOWHERE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: one per compiled set
class LocationIndex:
    """Every named location of a compiled set at once: `membership` answers `NamedLocation.contains`
    for all of them with one binary search per address and one lookup per country, instead of a test
    per location and policy (a policy may exclude dozens of office ranges)."""

    #: Per address family: the sorted boundaries of the segments that the locations' ranges cut the
    #: address space into, and the ids of the IP locations covering each segment.
    v4_bounds: tuple[int, ...]
    v4_inside: tuple[frozenset[str], ...]
    v6_bounds: tuple[int, ...]
    v6_inside: tuple[frozenset[str], ...]
    #: Ids of the IP locations, and of the country locations, that can be evaluated.
    ip: frozenset[str]
    countries: frozenset[str]
    #: Country code -> ids of the country locations listing it; ids of those that include unknown countries.
    by_country: Mapping[str, frozenset[str]]
    unknown_country: frozenset[str]
    #: Ids of the locations whose membership is never known (`NamedLocation.unevaluable`).
    unevaluable: frozenset[str]

    @classmethod
    def build(cls, locations: Iterable[NamedLocation]) -> LocationIndex:
        v4: list[tuple[int, int, str]] = []
        v6: list[tuple[int, int, str]] = []
        ip: set[str] = set()
        countries: set[str] = set()
        by_country: dict[str, set[str]] = {}
        unknown_country: set[str] = set()
        unevaluable: set[str] = set()
        for location in locations:
            if location.unevaluable:
                unevaluable.add(location.id)
            elif location.kind == "ip":  # as in NamedLocation.contains
                ip.add(location.id)
                ranges = location.ranges
                v4.extend(
                    (start, end, location.id) for start, end in zip(ranges.v4_starts, ranges.v4_ends, strict=True)
                )
                v6.extend(
                    (start, end, location.id) for start, end in zip(ranges.v6_starts, ranges.v6_ends, strict=True)
                )
            else:
                countries.add(location.id)
                for country in location.countries:
                    by_country.setdefault(country, set()).add(location.id)
                if location.include_unknown_countries:
                    unknown_country.add(location.id)
        v4_bounds, v4_inside = _segments(v4)
        v6_bounds, v6_inside = _segments(v6)
        return cls(
            v4_bounds,
            v4_inside,
            v6_bounds,
            v6_inside,
            frozenset(ip),
            frozenset(countries),
            {country: frozenset(ids) for country, ids in by_country.items()},
            frozenset(unknown_country),
            frozenset(unevaluable),
        )

    def membership(self, where: Where) -> Membership:
        """Whether the sign-in is in each location: in the first set (True), unknown (the second set) or
        not (neither). Unknown: a location Limen cannot evaluate, an IP location when the sign-in has no
        address, a country location when its country was not looked up. An address in no country is in
        the country locations that `includeUnknownCountriesAndRegions`."""
        inside = _NOWHERE
        unknown = self.unevaluable
        address = where.address
        if address is None:
            unknown = unknown | self.ip
        else:
            bounds, covering = (
                (self.v4_bounds, self.v4_inside) if address.version == 4 else (self.v6_bounds, self.v6_inside)
            )
            segment = bisect_right(bounds, int(address)) - 1
            if segment >= 0:
                inside = covering[segment]
        if not where.country_known:
            unknown = unknown | self.countries
        elif where.country is None:
            inside = inside | self.unknown_country
        else:
            inside = inside | self.by_country.get(where.country, _NOWHERE)
        return inside, unknown


def _segments(intervals: list[tuple[int, int, str]]) -> tuple[tuple[int, ...], tuple[frozenset[str], ...]]:
    """Cut the line at every interval's start and end + 1: each segment is then covered by the same
    intervals throughout. Returns the segments' starts and the ids covering each."""
    bounds = sorted({start for start, _, _ in intervals} | {end + 1 for _, end, _ in intervals})
    covering: list[set[str]] = [set() for _ in bounds]
    for start, end, location_id in intervals:
        for segment in range(bisect_left(bounds, start), bisect_left(bounds, end + 1)):
            covering[segment].add(location_id)
    return tuple(bounds), tuple(frozenset(ids) for ids in covering)
