"""Every file of the Conditional Access conformance corpus (tests/data/conformance/ca-policies, a copy of ../shared/conformance) imports,
or is rejected with a precise error; export gives back the same JSON modulo server-set properties and
the normalisations the import reported; export -> import -> export is stable.

Each repository of the corpus goes into a tenant of its own, as it would in real life (together they
hold more than the 195 policies a tenant may have).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from limen.domain.access.schema import Issue
from limen.domain.ids import new_id
from limen.service.conditional_access_import import (
    NAMED_LOCATION,
    POLICY,
    ObjectResult,
    Source,
    SourceReport,
    export_document,
    import_sources,
    json_files,
    read_source,
)
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Tenant

# A copy of the shared conformance corpus ships with the tests (SOURCES.md there says where each came from).
CORPUS = Path(__file__).resolve().parents[1] / "data" / "conformance" / "ca-policies"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

#: The objects the corpus holds that are really invalid Graph JSON, with the path and why.
EXPECTED_REJECTIONS: dict[tuple[str, int], tuple[str, str]] = {
    # Graph writes the flag enum conditionalAccessTransferMethods as one string ("deviceCodeFlow"); an
    # array is refused by Graph too.
    ("Clutch2View__nis2-conditional-access-policies/CA017-block-device-code-flow.json", 0): (
        "conditions.authenticationFlows.transferMethods",
        "got an array",
    ),
    # "compliantNetwork" is no grant control (the compliant-network check is a location condition).
    ("Clutch2View__nis2-conditional-access-policies/CA020-require-compliant-network-gsa.json", 0): (
        "grantControls.builtInControls[0]",
        "'compliantNetwork' is not a valid conditionalAccessGrantControl value",
    ),
    # Hand-written named locations, not Graph JSON: "locationType" and "note" instead of "@odata.type".
    **{
        (f"Clutch2View__nis2-conditional-access-policies/namedLocations__{name}.json", 0): (
            "@odata.type",
            "is required",
        )
        for name in (
            "NL001-corporate-offices",
            "NL002-vpn-egress-points",
            "NL003-restricted-countries",
            "NL004-trusted-ipv6-ranges",
            "NL005-datacenter-ranges",
        )
    },
    # A template whose IP ranges are placeholders: "xx.xx.xxx.xx/32" is no CIDR range.
    ("denis-beuermann__ConditionalAccess/namedLocations__MyDatacenterPublicEndpoints.json", 0): (
        "ipRanges[0].cidrAddress",
        "'xx.xx.xxx.xx/32' is not a CIDR range",
    ),
}

SERVER_SET = {"id", "createdDateTime", "modifiedDateTime", "deletedDateTime", "templateId", "partialEnablementStrategy"}
#: Graph's defaults for named locations: an export may leave them out, Limen writes them.
LOCATION_DEFAULTS = {
    "isTrusted": False,
    "includeUnknownCountriesAndRegions": False,
    "countryLookupMethod": "clientIpAddress",
}


def canonical(value: Any, *, top: bool = True) -> Any:
    """Graph JSON as compared: no annotations or server-set properties; null, [] and {} are 'not set';
    an authentication strength is its id (its other properties are the strength's, not the policy's)."""
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if "@" in key or key.startswith("#") or (top and key in SERVER_SET):
                continue
            if key == "authenticationStrength" and isinstance(item, Mapping):
                item = {"id": item.get("id")}
            if top and LOCATION_DEFAULTS.get(key, ...) == item:
                continue
            item = canonical(item, top=False)
            if item not in (None, [], {}):
                result[key] = item
        return result
    if isinstance(value, list):
        return [canonical(item, top=False) for item in value]
    return value


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """JSON paths where two canonical documents differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            where = f"{path}.{key}" if path else key
            found += differences(left.get(key), right.get(key), where) if key in left and key in right else [where]
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [path]


def covered(path: str, warnings: list[Issue]) -> bool:
    """A difference the import reported: at, under or (for a renamed property) beside a warning's path."""
    lowered = path.lower()
    return any(
        lowered == issue.path.lower() or lowered.startswith((issue.path.lower() + ".", issue.path.lower() + "["))
        for issue in warnings
    )


@dataclass
class Imported:
    tenant_id: str
    sources: list[Source]
    reports: list[SourceReport]


def _tenant(services: Services, name: str) -> str:
    with transaction(services.db) as db:
        tenant = Tenant(
            id=new_id(),
            display_name=name,
            default_domain=f"{name.lower().replace('_', '-')[:40]}.test",
            plan="p2",
            created_at=NOW,
            security_defaults_enabled=False,
        )
        db.add(tenant)
    return tenant.id


def _import(services: Services, tenant_id: str, sources: list[Source]) -> list[SourceReport]:
    with transaction(services.db) as db:
        return import_sources(db, tenant_id, sources, NOW)


@pytest.fixture
def corpus(services: Services) -> Iterator[list[Imported]]:
    imported = []
    for repository in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        sources = [read_source(path, str(path.relative_to(CORPUS))) for path in json_files([repository])]
        tenant_id = _tenant(services, repository.name)
        imported.append(Imported(tenant_id, sources, _import(services, tenant_id, sources)))
    yield imported


def _results(corpus: list[Imported]) -> Iterator[tuple[Source, ObjectResult]]:
    for repository in corpus:
        for source, report in zip(repository.sources, repository.reports, strict=True):
            assert report.error is None, f"{source.name}: {report.error}"
            for result in report.results:
                yield source, result


def test_every_file_imports_or_is_rejected_with_a_precise_error(corpus: list[Imported]) -> None:
    rejected = {}
    counts = {(POLICY, True): 0, (POLICY, False): 0, (NAMED_LOCATION, True): 0, (NAMED_LOCATION, False): 0}
    files = 0
    for repository in corpus:
        files += len(repository.sources)
    for source, result in _results(corpus):
        counts[(result.kind, result.imported)] += 1
        if not result.imported:
            assert result.error is not None
            rejected[(source.name, result.index)] = (result.error.path, result.error.message)
    assert files == 236
    assert set(rejected) == set(EXPECTED_REJECTIONS)
    for key, (path, reason) in EXPECTED_REJECTIONS.items():
        assert rejected[key][0] == path and reason in rejected[key][1], (key, rejected[key])
    # The corpus's STATS.md: 247 policies and 142 named locations.
    assert counts == {(POLICY, True): 245, (POLICY, False): 2, (NAMED_LOCATION, True): 136, (NAMED_LOCATION, False): 6}


def test_beta_properties_are_kept(corpus: list[Imported], services: Services) -> None:
    kept: set[str] = set()
    with services.db() as db:
        for repository in corpus:
            for item in export_document(db, repository.tenant_id)["value"]:
                conditions = item.get("conditions") or {}
                kept.update(
                    name
                    for name in ("agents", "insiderRiskLevels", "clientApplications", "agentIdRiskLevels")
                    if conditions.get(name)
                )
                if (conditions.get("authenticationFlows") or {}).get("transferMethods"):
                    kept.add("authenticationFlows")
    assert kept == {"agents", "insiderRiskLevels", "clientApplications", "agentIdRiskLevels", "authenticationFlows"}


def test_export_gives_back_the_imported_json(corpus: list[Imported], services: Services) -> None:
    """Modulo server-set properties, Graph's null/empty equivalence and the normalisations reported."""
    compared = 0
    with services.db() as db:
        for repository in corpus:
            exported = {item["id"]: item for item in export_document(db, repository.tenant_id)["value"]}
            for source, report in zip(repository.sources, repository.reports, strict=True):
                for result in report.results:
                    if not result.imported:
                        continue
                    original = canonical(source.objects[result.index])
                    back = canonical(exported[result.id])
                    unexplained = [path for path in differences(original, back) if not covered(path, result.warnings)]
                    assert unexplained == [], (source.name, result.index, unexplained)
                    compared += 1
    assert compared == 245 + 136


def test_export_import_export_is_stable(corpus: list[Imported], services: Services) -> None:
    for repository in corpus:
        with services.db() as db:
            first = export_document(db, repository.tenant_id)
        with transaction(services.db) as db:
            # Free the ids, so the second import can keep them as the first did.
            db.execute(sa.delete(Tenant).where(Tenant.id == repository.tenant_id))
        tenant_id = _tenant(services, "again")
        reports = _import(services, tenant_id, [Source("export.json", tuple(first["value"]))])
        assert [r for r in reports[0].results if not r.imported] == []
        with services.db() as db:
            second = export_document(db, tenant_id)

        def without_times(document: dict[str, Any]) -> list[Any]:
            return [canonical(item) | {"id": item["id"]} for item in document["value"]]

        assert without_times(second) == without_times(first)
        with transaction(services.db) as db:
            db.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))


def test_files_in_utf16_and_with_a_bom_are_read(corpus: list[Imported]) -> None:
    encodings = {"utf-16": 0, "utf-8-sig": 0}
    for repository in corpus:
        for source in repository.sources:
            head = (CORPUS / source.name).read_bytes()[:3]
            encoding = (
                "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig" if head == b"\xef\xbb\xbf" else None
            )
            if encoding:
                assert source.error is None and source.objects, source.name
                encodings[encoding] += 1
    assert encodings == {"utf-16": 34, "utf-8-sig": 2}
