"""Conditional Access objects: policies, named locations and custom authentication strengths.

Create, read, update (PATCH semantics: objects merge, everything else is replaced, then the whole
document is validated again) and delete, as the Graph API and the CLI need them. Every write:

* validates the Graph JSON (limen.domain.access.schema) and stores the normalised document, with its
  `id`, in the row's `document`;
* checks the tenant's plan (SPEC.md §10 "Plans": `free` has no Conditional Access, `p1` no risk
  conditions) and the limits (195 policies, 195 named locations, 15 custom strengths);
* refuses to switch a policy to `enabled` while security defaults are on (SPEC.md §1.7, §10);
* bumps `tenants.policy_version`, so policy sets compiled and cached per process see the change.

References to users, groups, roles, applications and named locations that Limen does not know are
kept (they match nothing) and returned as warnings; an unknown authentication strength is an error,
because a grant nobody can satisfy would lock out everyone the policy applies to.

Every function takes the Session and the tenant; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.access.schema import (
    ENABLED,
    Issue,
    PolicyInvalid,
    Reference,
    policy_references,
    uses_risk_conditions,
    validate_authentication_strength,
    validate_named_location,
    validate_policy,
)
from limen.domain.access.schema_strengths import (
    BUILT_IN_STRENGTHS,
    MAX_CUSTOM_STRENGTHS,
    requirements_satisfied,
)
from limen.domain.access.schema_types import type_name
from limen.domain.directory import Plan, role_catalogue
from limen.domain.errors import Conflict, LimenError, NotFound, ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.domain.timestamps import graph_time
from limen.service import security_defaults
from limen.store.models import (
    Application,
    AuthenticationStrengthPolicy,
    ConditionalAccessPolicy,
    Group,
    NamedLocation,
    Tenant,
    User,
)

#: Entra's per-tenant limits (SPEC.md §2.7, §3.11, §10), all policy states counted.
MAX_POLICIES = 195
MAX_NAMED_LOCATIONS = 195

_CHUNK = 500  # bind parameters per IN list, well under SQLite's and PostgreSQL's limits


class PlanRequired(LimenError):
    """The tenant's plan does not include the feature (the web layer answers 403)."""

    code = "planRequired"


class LimitReached(ValidationFailed):
    code = "limitReached"


@dataclass(frozen=True, slots=True)
class Saved:
    """A stored object and what the admin should know about it (unknown references, normalisations)."""

    row: Any
    warnings: tuple[Issue, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the engine compiles for a tenant, read in one go, with the version it was read at."""

    version: int
    policies: list[dict[str, Any]] = field(default_factory=list)
    named_locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    authentication_strengths: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- tenant, version, plan ---------------------------------------------------------------------------


def _tenant(db: Session, tenant_id: str) -> Tenant:
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    return tenant


def policy_version(db: Session, tenant_id: str) -> int:
    """The tenant's Conditional Access version: it grows with every change to a policy, location or strength."""
    version = db.scalar(sa.select(Tenant.policy_version).where(Tenant.id == tenant_id))
    if version is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    return int(version)


def _bump_version(db: Session, tenant_id: str) -> None:
    # One UPDATE ... SET v = v + 1: concurrent writers each move it on, none is lost.
    db.execute(sa.update(Tenant).where(Tenant.id == tenant_id).values(policy_version=Tenant.policy_version + 1))


def _require_plan(db: Session, tenant_id: str, document: Mapping[str, Any] | None = None) -> None:
    plan = Plan.parse(_tenant(db, tenant_id).plan)
    if plan is Plan.FREE:
        raise PlanRequired(
            "Conditional Access needs plan p1 or p2; this tenant has plan free (security defaults only). "
            "Change the plan with LIMEN_DEFAULT_PLAN or the tenant settings."
        )
    if plan is Plan.P1 and document is not None and uses_risk_conditions(document):
        raise PlanRequired(
            "Policies with sign-in or user risk conditions (conditions.signInRiskLevels, conditions.userRiskLevels) "
            "need plan p2; this tenant has plan p1."
        )


# -- references --------------------------------------------------------------------------------------


def _existing(db: Session, column: Any, tenant_column: Any, tenant_id: str, values: Iterable[str]) -> set[str]:
    wanted = sorted({v for v in values if v})
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(db.scalars(sa.select(column).where(tenant_column == tenant_id, column.in_(chunk))))
    return found


_KIND_WORDS = {
    "user": "user",
    "group": "group",
    "role": "directory role",
    "application": "application",
    "namedLocation": "named location",
}


def _reference_warnings(db: Session, tenant_id: str, references: Iterable[Reference]) -> list[Issue]:
    """Warnings for references Limen does not know; they are kept and match nothing."""
    by_kind: dict[str, list[tuple[Reference, str | None]]] = {}
    for ref in references:
        if ref.kind != "authenticationStrength":
            by_kind.setdefault(ref.kind, []).append((ref, parse_guid(ref.value)))

    def ids(kind: str) -> list[str]:
        return [guid for _, guid in by_kind.get(kind, []) if guid]

    known = {
        "user": _existing(db, User.id, User.tenant_id, tenant_id, ids("user")),
        "group": _existing(db, Group.id, Group.tenant_id, tenant_id, ids("group")),
        "role": set(role_catalogue()) & set(ids("role")),
        "application": _existing(db, Application.app_id, Application.tenant_id, tenant_id, ids("application")),
        "namedLocation": _existing(db, NamedLocation.id, NamedLocation.tenant_id, tenant_id, ids("namedLocation")),
    }
    warnings: list[Issue] = []
    for kind, entries in by_kind.items():
        word = _KIND_WORDS[kind]
        for ref, guid in entries:
            if guid is None:
                warnings.append(
                    Issue(
                        ref.path, f"'{ref.value}' is not an object id (a template placeholder?); it matches no {word}"
                    )
                )
            elif guid not in known[kind]:
                where = "in Limen's role catalogue" if kind == "role" else "in this tenant"
                warnings.append(Issue(ref.path, f"{word} '{ref.value}' does not exist {where}; it matches nothing"))
    return warnings


def _check_strength_reference(db: Session, tenant_id: str, document: Mapping[str, Any]) -> None:
    strength = (document.get("grantControls") or {}).get("authenticationStrength")
    if strength is None:
        return
    strength_id = str(parse_guid(strength["id"]))
    if strength_id in BUILT_IN_STRENGTHS:
        strength["id"] = strength_id
        return
    row = db.get(AuthenticationStrengthPolicy, strength_id)
    if row is None or row.tenant_id != tenant_id:
        raise PolicyInvalid(
            "grantControls.authenticationStrength.id",
            f"authentication strength '{strength['id']}' does not exist; create it first "
            "(POST /v1.0/identity/conditionalAccess/authenticationStrength/policies) or use a built-in one",
        )
    strength["id"] = strength_id


# -- policies -----------------------------------------------------------------------------------------


def list_policies(db: Session, tenant_id: str) -> list[ConditionalAccessPolicy]:
    return list(
        db.scalars(
            sa.select(ConditionalAccessPolicy)
            .where(ConditionalAccessPolicy.tenant_id == tenant_id)
            .order_by(
                ConditionalAccessPolicy.created_at, ConditionalAccessPolicy.display_name, ConditionalAccessPolicy.id
            )
        )
    )


def get_policy(db: Session, tenant_id: str, policy_id: str) -> ConditionalAccessPolicy:
    row = db.get(ConditionalAccessPolicy, parse_guid(policy_id) or policy_id)
    if row is None or row.tenant_id != tenant_id:
        raise _not_found("conditionalAccessPolicy", policy_id)
    return row


def _not_found(type_name: str, object_id: str) -> NotFound:
    return NotFound(f"The {type_name} '{object_id}' does not exist.")


def _free_id(db: Session, model: type[Any], wanted: str | None) -> str:
    """`wanted` (an export's id) when it is a GUID no row has yet, otherwise a new id."""
    guid = parse_guid(wanted) if wanted else None
    if guid is not None and db.get(model, guid) is None:
        return guid
    return new_id()


def _check_enable(db: Session, tenant_id: str, state: str, previous: str | None) -> None:
    if state == ENABLED and previous != ENABLED:
        security_defaults.ensure_policy_can_be_enabled(db, tenant_id)


def create_policy(
    db: Session, tenant_id: str, body: Mapping[str, Any], now: datetime, *, keep_id: bool = False
) -> Saved:
    """Validate and store a new policy. With `keep_id`, the body's `id` is kept when it is a free GUID."""
    validated = validate_policy(body)
    document = validated.document
    _require_plan(db, tenant_id, document)
    count = db.scalar(
        sa.select(sa.func.count())
        .select_from(ConditionalAccessPolicy)
        .where(ConditionalAccessPolicy.tenant_id == tenant_id)
    )
    if (count or 0) >= MAX_POLICIES:
        raise LimitReached(
            f"A tenant can have at most {MAX_POLICIES} Conditional Access policies (in any state); delete one first."
        )
    _check_strength_reference(db, tenant_id, document)
    _check_enable(db, tenant_id, document["state"], None)
    policy_id = _free_id(db, ConditionalAccessPolicy, validated.id if keep_id else None)
    row = ConditionalAccessPolicy(
        id=policy_id,
        tenant_id=tenant_id,
        display_name=document["displayName"],
        state=document["state"],
        document={"id": policy_id, **document},
        created_at=now,
    )
    db.add(row)
    _bump_version(db, tenant_id)
    db.flush()
    warnings = (*validated.warnings, *_reference_warnings(db, tenant_id, policy_references(document)))
    return Saved(row, warnings)


def merge_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Graph's PATCH: objects merge property by property; arrays, scalars and null replace.

    An object whose `@odata.type` changes is replaced whole (its properties belong to the other type).
    """
    merged = dict(current)
    for key, value in patch.items():
        old = merged.get(key)
        if (
            isinstance(value, Mapping)
            and isinstance(old, Mapping)
            and value.get("@odata.type", old.get("@odata.type")) == old.get("@odata.type")
        ):
            merged[key] = merge_patch(old, value)
        else:
            merged[key] = value
    return merged


def update_policy(db: Session, tenant_id: str, policy_id: str, patch: Mapping[str, Any], now: datetime) -> Saved:
    """Apply a PATCH to a policy and validate the result as a whole."""
    row = get_policy(db, tenant_id, policy_id)
    if not isinstance(patch, Mapping):
        raise PolicyInvalid("", "the request body must be a JSON object")
    validated = validate_policy(merge_patch(row.document, patch))
    document = validated.document
    _require_plan(db, tenant_id, document)
    _check_strength_reference(db, tenant_id, document)
    _check_enable(db, tenant_id, document["state"], row.state)
    row.document = {"id": row.id, **document}
    row.display_name = document["displayName"]
    row.state = document["state"]
    row.modified_at = now
    _bump_version(db, tenant_id)
    db.flush()
    warnings = (*validated.warnings, *_reference_warnings(db, tenant_id, policy_references(document)))
    return Saved(row, warnings)


def delete_policy(db: Session, tenant_id: str, policy_id: str) -> None:
    row = get_policy(db, tenant_id, policy_id)
    db.delete(row)
    _bump_version(db, tenant_id)
    db.flush()


def strength_lookup(db: Session, tenant_id: str) -> dict[str, dict[str, Any]]:
    """Every strength a policy of the tenant may name, by id, in Graph's JSON (built-in and custom)."""
    found = dict(BUILT_IN_STRENGTHS)
    for row in list_custom_strengths(db, tenant_id):
        found[row.id] = strength_json(row)
    return found


def policy_json(
    row: ConditionalAccessPolicy, strengths: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The policy as Graph returns it: the stored document with its server-set properties.

    With `strengths`, `grantControls.authenticationStrength` is expanded into the strength's own JSON,
    as Graph does; an import reads back only its `id` (and creates a custom strength it lacks).
    """
    document = {key: value for key, value in row.document.items() if key != "id"}
    shaped: dict[str, Any] = {
        "id": row.id,
        "displayName": document.pop("displayName"),
        "description": document.pop("description", None),
        "createdDateTime": graph_time(row.created_at),
        "modifiedDateTime": graph_time(row.modified_at),
        **document,
    }
    grant: dict[str, Any] | None = shaped.get("grantControls")
    strength = grant.get("authenticationStrength") if grant else None
    if grant is not None and strengths is not None and strength is not None and strength["id"] in strengths:
        shaped["grantControls"] = {**grant, "authenticationStrength": dict(strengths[strength["id"]])}
    return shaped


# -- named locations ---------------------------------------------------------------------------------


def list_named_locations(db: Session, tenant_id: str) -> list[NamedLocation]:
    return list(
        db.scalars(
            sa.select(NamedLocation)
            .where(NamedLocation.tenant_id == tenant_id)
            .order_by(NamedLocation.created_at, NamedLocation.display_name, NamedLocation.id)
        )
    )


def get_named_location(db: Session, tenant_id: str, location_id: str) -> NamedLocation:
    row = db.get(NamedLocation, parse_guid(location_id) or location_id)
    if row is None or row.tenant_id != tenant_id:
        raise _not_found("namedLocation", location_id)
    return row


def _store_location_fields(row: NamedLocation, document: dict[str, Any]) -> None:
    row.document = {"id": row.id, **document}
    row.display_name = document["displayName"]
    row.kind = type_name(document["@odata.type"])
    row.is_trusted = bool(document.get("isTrusted"))


def create_named_location(
    db: Session, tenant_id: str, body: Mapping[str, Any], now: datetime, *, keep_id: bool = False
) -> Saved:
    """Validate and store a named location; with `keep_id`, the body's `id` is kept when free."""
    validated = validate_named_location(body)
    _require_plan(db, tenant_id)
    count = db.scalar(sa.select(sa.func.count()).select_from(NamedLocation).where(NamedLocation.tenant_id == tenant_id))
    if (count or 0) >= MAX_NAMED_LOCATIONS:
        raise LimitReached(f"A tenant can have at most {MAX_NAMED_LOCATIONS} named locations; delete one first.")
    location_id = _free_id(db, NamedLocation, validated.id if keep_id else None)
    row = NamedLocation(id=location_id, tenant_id=tenant_id, created_at=now)
    _store_location_fields(row, validated.document)
    db.add(row)
    _bump_version(db, tenant_id)
    db.flush()
    return Saved(row, validated.warnings)


def update_named_location(
    db: Session, tenant_id: str, location_id: str, patch: Mapping[str, Any], now: datetime
) -> Saved:
    """PATCH a named location; its type (`@odata.type`) can't change."""
    row = get_named_location(db, tenant_id, location_id)
    if not isinstance(patch, Mapping):
        raise PolicyInvalid("", "the request body must be a JSON object")
    declared = patch.get("@odata.type")
    if declared is not None and type_name(declared).lower() != row.kind.lower():
        raise PolicyInvalid("@odata.type", f"a {row.kind} can't become a {type_name(declared)}")
    _require_plan(db, tenant_id)
    validated = validate_named_location(merge_patch(row.document, patch))
    _store_location_fields(row, validated.document)
    row.modified_at = now
    _bump_version(db, tenant_id)
    db.flush()
    return Saved(row, validated.warnings)


def policies_referring_to(db: Session, tenant_id: str, kind: str, object_id: str) -> list[str]:
    """Display names of the tenant's policies that name `object_id` as a `kind` reference."""
    names = []
    for row in list_policies(db, tenant_id):
        if any(ref.kind == kind and parse_guid(ref.value) == object_id for ref in policy_references(row.document)):
            names.append(row.display_name)
    return names


def delete_named_location(db: Session, tenant_id: str, location_id: str) -> None:
    """Delete a named location no policy uses; a trusted one must be un-trusted first (SPEC.md §2.7)."""
    row = get_named_location(db, tenant_id, location_id)
    if row.is_trusted:
        raise Conflict(
            f"The named location '{row.display_name}' is trusted: set isTrusted to false before deleting it.",
            code="namedLocationTrusted",
        )
    users = policies_referring_to(db, tenant_id, "namedLocation", row.id)
    if users:
        raise Conflict(
            f"The named location '{row.display_name}' is used by {_names(users)}; remove it from those policies first.",
            code="namedLocationInUse",
        )
    db.delete(row)
    _bump_version(db, tenant_id)
    db.flush()


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def named_location_json(row: NamedLocation) -> dict[str, Any]:
    document = {key: value for key, value in row.document.items() if key != "id"}
    return {
        "@odata.type": document.pop("@odata.type"),
        "id": row.id,
        "displayName": document.pop("displayName"),
        "createdDateTime": graph_time(row.created_at),
        "modifiedDateTime": graph_time(row.modified_at),
        **document,
    }


# -- authentication strengths ------------------------------------------------------------------------


def list_custom_strengths(db: Session, tenant_id: str) -> list[AuthenticationStrengthPolicy]:
    return list(
        db.scalars(
            sa.select(AuthenticationStrengthPolicy)
            .where(AuthenticationStrengthPolicy.tenant_id == tenant_id)
            .order_by(
                AuthenticationStrengthPolicy.created_at,
                AuthenticationStrengthPolicy.display_name,
                AuthenticationStrengthPolicy.id,
            )
        )
    )


def list_strengths(db: Session, tenant_id: str) -> list[dict[str, Any]]:
    """The three built-in strengths, then the tenant's custom ones, in Graph's JSON."""
    return [dict(doc) for doc in BUILT_IN_STRENGTHS.values()] + [
        strength_json(row) for row in list_custom_strengths(db, tenant_id)
    ]


def get_strength(db: Session, tenant_id: str, strength_id: str) -> dict[str, Any]:
    guid = parse_guid(strength_id) or strength_id
    if guid in BUILT_IN_STRENGTHS:
        return dict(BUILT_IN_STRENGTHS[guid])
    return strength_json(_custom_strength(db, tenant_id, strength_id))


def _custom_strength(db: Session, tenant_id: str, strength_id: str) -> AuthenticationStrengthPolicy:
    guid = parse_guid(strength_id) or strength_id
    if guid in BUILT_IN_STRENGTHS:
        raise ValidationFailed(f"'{strength_id}' is a built-in authentication strength, which is read-only.")
    row = db.get(AuthenticationStrengthPolicy, guid)
    if row is None or row.tenant_id != tenant_id:
        raise _not_found("authenticationStrengthPolicy", strength_id)
    return row


def create_strength(
    db: Session, tenant_id: str, body: Mapping[str, Any], now: datetime, *, keep_id: bool = False
) -> Saved:
    """Validate and store a custom strength (at most 15 per tenant)."""
    validated = validate_authentication_strength(body)
    _require_plan(db, tenant_id)
    count = db.scalar(
        sa.select(sa.func.count())
        .select_from(AuthenticationStrengthPolicy)
        .where(AuthenticationStrengthPolicy.tenant_id == tenant_id)
    )
    if (count or 0) >= MAX_CUSTOM_STRENGTHS:
        raise LimitReached(f"A tenant can have at most {MAX_CUSTOM_STRENGTHS} custom authentication strengths.")
    strength_id = _free_id(db, AuthenticationStrengthPolicy, validated.id if keep_id else None)
    row = AuthenticationStrengthPolicy(
        id=strength_id,
        tenant_id=tenant_id,
        display_name=validated.document["displayName"],
        document={"id": strength_id, **validated.document},
        created_at=now,
    )
    db.add(row)
    _bump_version(db, tenant_id)
    db.flush()
    return Saved(row, validated.warnings)


def update_strength(db: Session, tenant_id: str, strength_id: str, patch: Mapping[str, Any], now: datetime) -> Saved:
    """PATCH a custom strength (displayName, description, allowedCombinations, combinationConfigurations)."""
    row = _custom_strength(db, tenant_id, strength_id)
    if not isinstance(patch, Mapping):
        raise PolicyInvalid("", "the request body must be a JSON object")
    _require_plan(db, tenant_id)
    validated = validate_authentication_strength({**merge_patch(row.document, patch), "id": row.id})
    row.document = {"id": row.id, **validated.document}
    row.display_name = validated.document["displayName"]
    row.modified_at = now
    _bump_version(db, tenant_id)
    db.flush()
    return Saved(row, validated.warnings)


def delete_strength(db: Session, tenant_id: str, strength_id: str) -> None:
    """Delete a custom strength no policy uses."""
    row = _custom_strength(db, tenant_id, strength_id)
    users = policies_referring_to(db, tenant_id, "authenticationStrength", row.id)
    if users:
        raise Conflict(
            f"The authentication strength '{row.display_name}' is used by {_names(users)}; "
            "change those policies first.",
            code="authenticationStrengthInUse",
        )
    db.delete(row)
    _bump_version(db, tenant_id)
    db.flush()


def strength_json(row: AuthenticationStrengthPolicy) -> dict[str, Any]:
    document = row.document
    combinations = list(document.get("allowedCombinations") or [])
    return {
        "id": row.id,
        "createdDateTime": graph_time(row.created_at),
        "modifiedDateTime": graph_time(row.modified_at or row.created_at),
        "displayName": document["displayName"],
        "description": document.get("description"),
        "policyType": "custom",
        "requirementsSatisfied": requirements_satisfied(combinations),
        "allowedCombinations": combinations,
        "combinationConfigurations": list(document.get("combinationConfigurations") or []),
    }


# -- for the engine ----------------------------------------------------------------------------------


def snapshot(db: Session, tenant_id: str) -> Snapshot:
    """The tenant's stored documents and the version they belong to, for compiling a policy set.

    Read the version first: a change committed in between makes the cache stale by one version, which
    the next request notices, rather than caching new documents under an old version forever.
    """
    version = policy_version(db, tenant_id)
    return Snapshot(
        version=version,
        policies=[dict(row.document) for row in list_policies(db, tenant_id)],
        named_locations={row.id: dict(row.document) for row in list_named_locations(db, tenant_id)},
        authentication_strengths={
            **{key: dict(doc) for key, doc in BUILT_IN_STRENGTHS.items()},
            **{row.id: dict(row.document) for row in list_custom_strengths(db, tenant_id)},
        },
    )
