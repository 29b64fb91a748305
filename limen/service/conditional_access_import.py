"""Importing and exporting Conditional Access objects as files of Graph JSON (`limen policy import|export`).

A file holds one object, an array of objects, or Graph's collection envelope `{"value": [...]}`, in
UTF-8 (with or without a byte-order mark) or UTF-16, as PowerShell's exports are. Objects are told
apart by their shape: policies (`conditions`, `state`), named locations (`@odata.type` of a
namedLocation) and authentication strengths (`allowedCombinations`). Whatever the order in the files,
strengths are imported first, then named locations, then policies, because policies refer to them.

Ids from the files are kept when they are GUIDs not yet taken, so that policies and the named
locations and strengths they name keep matching. When a named location's or strength's id belongs to
another tenant, it gets a new id and the policies of the same import are rewritten to use it. A custom
strength that an export embedded in a policy (Graph expands `grantControls.authenticationStrength`)
is created when the tenant lacks it.

Each object is checked completely before anything is written for it, so a rejected object leaves
nothing behind; the caller commits (or, for a dry run, rolls back) the whole import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from limen.domain.access.schema import ENABLED, REPORT_ONLY, Issue, PolicyInvalid, validate_policy
from limen.domain.access.schema_locations import is_named_location
from limen.domain.access.schema_types import child
from limen.domain.errors import LimenError
from limen.domain.ids import parse_guid
from limen.service import conditional_access as ca
from limen.store.models import AuthenticationStrengthPolicy, NamedLocation

POLICY = "policy"
NAMED_LOCATION = "namedLocation"
STRENGTH = "authenticationStrength"
#: Import order: what policies refer to comes first.
_ORDER = {STRENGTH: 0, NAMED_LOCATION: 1, POLICY: 2}


@dataclass(frozen=True, slots=True)
class Source:
    """One file's objects, or why it could not be read."""

    name: str
    objects: tuple[Any, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class ObjectResult:
    index: int
    kind: str
    display_name: str
    imported: bool = False
    id: str | None = None
    #: Why the object was rejected: the JSON path and the reason of the first problem ...
    error: Issue | None = None
    #: ... and every problem found, for a file that should be fixed in one pass.
    errors: list[Issue] = field(default_factory=list)
    #: The error's code, e.g. "conflictingObjects" when security defaults refused an enabled policy.
    code: str | None = None
    warnings: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class SourceReport:
    name: str
    error: str | None = None
    results: list[ObjectResult] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return sum(result.imported for result in self.results)

    @property
    def rejected(self) -> int:
        return sum(not result.imported for result in self.results) + (self.error is not None)


# -- reading files -----------------------------------------------------------------------------------


def parse_document(raw: bytes) -> tuple[Any, ...]:
    """The objects in a file's bytes; raises ValueError with a readable reason."""
    try:
        # json.loads on bytes detects UTF-8, UTF-8 with a BOM, UTF-16 and UTF-32 by itself (RFC 8259 §8.1).
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 or UTF-16 text: {exc.reason}") from None
    if isinstance(value, dict) and isinstance(value.get("value"), list) and "conditions" not in value:
        return tuple(value["value"])
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return (value,)
    raise ValueError(f'expected a JSON object, an array or {{"value": [...]}}, not {type(value).__name__}')


def read_source(path: Path, name: str | None = None) -> Source:
    label = name or str(path)
    try:
        return Source(label, parse_document(path.read_bytes()))
    except (OSError, ValueError) as exc:
        return Source(label, error=str(exc))


def json_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every *.json file under the folders named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".json"))
        else:
            found.append(path)
    return found


def kind_of(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    declared = str(value.get("@odata.type", "")).lower()
    if "conditions" in value or "state" in value or declared.endswith("conditionalaccesspolicy"):
        return POLICY
    if is_named_location(value):
        return NAMED_LOCATION
    if declared.endswith("authenticationstrengthpolicy") or "allowedCombinations" in value:
        return STRENGTH
    return None


def _display_name(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("displayName", "displayname", "DisplayName"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return ""


# -- importing ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Import:
    db: Session
    tenant_id: str
    now: datetime
    as_report_only: bool
    #: Ids from the files that had to change because another tenant holds them: old -> new.
    renamed: dict[str, str] = field(default_factory=dict)

    def run(self, kind: str, value: Mapping[str, Any], result: ObjectResult) -> None:
        try:
            if kind == STRENGTH:
                saved = self._referenced(AuthenticationStrengthPolicy, value, ca.create_strength)
            elif kind == NAMED_LOCATION:
                saved = self._referenced(NamedLocation, value, ca.create_named_location)
            else:
                saved = self._policy(value, result)
        except PolicyInvalid as exc:
            result.error, result.code, result.errors = Issue(exc.path, exc.reason), exc.code, list(exc.errors)
            return
        except LimenError as exc:
            result.error, result.code = Issue("", exc.message), exc.code
            result.errors = [result.error]
            return
        result.imported, result.id = True, saved.row.id
        result.warnings.extend(saved.warnings)

    def _referenced(self, model: type[Any], value: Mapping[str, Any], create: Callable[..., ca.Saved]) -> ca.Saved:
        """Create a strength or named location, keeping its id when free; follow the id when it can't be."""
        saved = create(self.db, self.tenant_id, value, self.now, keep_id=True)
        wanted = parse_guid(str(value.get("id") or ""))
        if wanted and saved.row.id != wanted:
            holder = self.db.get(model, wanted)
            # Same tenant: an earlier import of the same object, which the policies may keep naming.
            if holder is not None and holder.tenant_id != self.tenant_id:
                self.renamed[wanted] = saved.row.id
        return saved

    def _policy(self, value: Mapping[str, Any], result: ObjectResult) -> ca.Saved:
        body = dict(value)
        if self.as_report_only and str(body.get("state", "")).lower() == ENABLED.lower():
            body["state"] = REPORT_ONLY
            result.warnings.append(Issue("state", "was enabled; imported in report-only mode (--as-report-only)"))
        validated = validate_policy(body)
        body = self._follow_renames(body)
        if validated.authentication_strength is not None:
            body = self._ensure_strength(body, validated.authentication_strength, result)
        return ca.create_policy(self.db, self.tenant_id, body, self.now, keep_id=True)

    def _follow_renames(self, body: dict[str, Any]) -> dict[str, Any]:
        renamed = self.renamed
        if not renamed:
            return body
        conditions = dict(body.get("conditions") or {})
        locations = conditions.get("locations")
        if isinstance(locations, Mapping):
            conditions["locations"] = {
                key: [renamed.get(parse_guid(v) or "", v) if isinstance(v, str) else v for v in values]
                if isinstance(values, list)
                else values
                for key, values in locations.items()
            }
        return self._with_strength_id(body | {"conditions": conditions}, renamed)

    @staticmethod
    def _with_strength_id(body: dict[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
        grant = body.get("grantControls")
        strength = grant.get("authenticationStrength") if isinstance(grant, Mapping) else None
        if not isinstance(strength, Mapping) or not isinstance(grant, Mapping):
            return body
        new = renamed.get(parse_guid(str(strength.get("id") or "")) or "")
        if not new:
            return body
        return body | {"grantControls": {**grant, "authenticationStrength": {**strength, "id": new}}}

    def _ensure_strength(self, body: dict[str, Any], embedded: dict[str, Any], result: ObjectResult) -> dict[str, Any]:
        """Create the custom strength an export embedded in the policy, unless the tenant has it."""
        strength_id = parse_guid(str(embedded["id"])) or ""
        strength_id = self.renamed.get(strength_id) or strength_id
        existing = self.db.get(AuthenticationStrengthPolicy, strength_id)
        if existing is not None and existing.tenant_id == self.tenant_id:
            return body
        saved = ca.create_strength(self.db, self.tenant_id, embedded, self.now, keep_id=True)
        where = "grantControls.authenticationStrength"
        result.warnings.append(
            Issue(
                where,
                f"created the custom authentication strength '{saved.row.display_name}' ({saved.row.id}) "
                "embedded in the policy",
            )
        )
        result.warnings.extend(Issue(child(where, issue.path), issue.message) for issue in saved.warnings)
        if saved.row.id != strength_id:
            self.renamed[strength_id] = saved.row.id
            return self._with_strength_id(body, {strength_id: saved.row.id})
        return body


def import_sources(
    db: Session,
    tenant_id: str,
    sources: Iterable[Source],
    now: datetime,
    *,
    as_report_only: bool = False,
    progress: Callable[[], None] | None = None,
) -> list[SourceReport]:
    """Import every object of every source; one report per source, one result per object.

    With `as_report_only`, enabled policies are imported in report-only mode (so they can be imported
    while security defaults are on, SPEC.md §10). The caller commits or rolls back.
    """
    reports: list[SourceReport] = []
    work: list[tuple[int, int, str, Any, ObjectResult]] = []
    for position, source in enumerate(sources):
        report = SourceReport(source.name, source.error)
        reports.append(report)
        for index, value in enumerate(source.objects):
            kind = kind_of(value)
            result = ObjectResult(index, kind or "unknown", _display_name(value))
            report.results.append(result)
            if kind is None:
                result.error = Issue(
                    "", "not a Conditional Access policy, named location or authentication strength (by its properties)"
                )
                result.errors = [result.error]
                if progress:
                    progress()
                continue
            work.append((_ORDER[kind], position, kind, value, result))
    importer = _Import(db, tenant_id, now, as_report_only)
    for _, _, kind, value, result in sorted(work, key=lambda entry: (entry[0], entry[1], entry[4].index)):
        importer.run(kind, value, result)
        if progress:
            progress()
    return reports


# -- exporting ---------------------------------------------------------------------------------------


def export_objects(db: Session, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """The tenant's custom strengths, named locations and policies, in Graph's JSON, by kind."""
    strengths = ca.strength_lookup(db, tenant_id)
    return {
        "authenticationStrengthPolicies": [ca.strength_json(row) for row in ca.list_custom_strengths(db, tenant_id)],
        "namedLocations": [ca.named_location_json(row) for row in ca.list_named_locations(db, tenant_id)],
        "policies": [ca.policy_json(row, strengths) for row in ca.list_policies(db, tenant_id)],
    }


def export_document(db: Session, tenant_id: str) -> dict[str, Any]:
    """Everything in one `{"value": [...]}`: what policies refer to first, so any importer can go in order."""
    parts = export_objects(db, tenant_id)
    return {"value": [*parts["authenticationStrengthPolicies"], *parts["namedLocations"], *parts["policies"]]}
