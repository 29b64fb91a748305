"""What lint needs from the store: the tenant's policies and which of the ids they name exist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from limen.domain.access.lint import BUILT_IN_STRENGTH_IDS, DirectoryFacts, Finding, lint_policy
from limen.domain.access.schema_types import Issue
from limen.service import conditional_access as ca
from limen.service.directory_groups import member_of_transitive
from limen.service.directory_roles import role_ids_of
from limen.store.models import Application, Group, NamedLocation, User

_CHUNK = 500


def stored_policies(db: Session, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's policies as Graph JSON, with the row's id and state (the columns are authoritative)."""
    return [{**row.document, "id": row.id, "state": row.state} for row in ca.list_policies(db, tenant_id)]


def directory_facts(
    db: Session, tenant_id: str, policies: Sequence[Mapping[str, Any]], acting_user_id: str | None
) -> DirectoryFacts:
    """What exists among the ids the policies name (not the whole directory: 100,000 users stay in the database)."""
    users = _referenced(policies, "users", ("includeUsers", "excludeUsers"))
    groups = _referenced(policies, "users", ("includeGroups", "excludeGroups"))
    apps = _referenced(policies, "applications", ("includeApplications", "excludeApplications"))
    locations = _referenced(policies, "locations", ("includeLocations", "excludeLocations"))
    strengths = BUILT_IN_STRENGTH_IDS | {row.id for row in ca.list_custom_strengths(db, tenant_id)}
    groups_of: dict[str, frozenset[str]] = {}
    roles_of: dict[str, frozenset[str]] = {}
    if acting_user_id is not None:
        groups_of[acting_user_id] = frozenset(member_of_transitive(db, tenant_id, acting_user_id))
        roles_of[acting_user_id] = frozenset(role_ids_of(db, tenant_id, acting_user_id))
    return DirectoryFacts(
        user_ids=_existing(db, User.id, User.tenant_id, tenant_id, users),
        group_ids=_existing(db, Group.id, Group.tenant_id, tenant_id, groups),
        application_ids=_existing(db, Application.app_id, Application.tenant_id, tenant_id, apps),
        named_location_ids=_existing(db, NamedLocation.id, NamedLocation.tenant_id, tenant_id, locations),
        authentication_strength_ids=frozenset(strengths),
        groups_of=groups_of,
        roles_of=roles_of,
    )


def _referenced(policies: Iterable[Mapping[str, Any]], section: str, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for policy in policies:
        conditions = policy.get("conditions")
        block = conditions.get(section) if isinstance(conditions, Mapping) else None
        if not isinstance(block, Mapping):
            continue
        for key in keys:
            values = block.get(key)
            if isinstance(values, list):
                found.update(v.lower() for v in values if isinstance(v, str))
    return found


def _existing(
    db: Session,
    column: InstrumentedAttribute[str],
    tenant_column: InstrumentedAttribute[str],
    tenant_id: str,
    ids: set[str],
) -> frozenset[str]:
    # Ids are stored lower-case (limen.domain.ids); the policy's spelling was folded by _referenced.
    wanted = sorted(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(db.scalars(sa.select(column).where(tenant_column == tenant_id, column.in_(chunk))))
    return frozenset(found)


def api_warnings(
    db: Session, tenant_id: str, policy: Mapping[str, Any], acting_user_id: str | None = None
) -> list[Issue]:
    """Lint findings for one policy, as the Graph API returns warnings (lock-outs, contradictions)."""
    facts = directory_facts(db, tenant_id, [policy], acting_user_id)
    findings: list[Finding] = lint_policy(policy, facts, acting_user_id)
    # The schema's own warnings already report unknown references.
    return [Issue(f.path, f"{f.severity.value}: {f.message}") for f in findings if not f.code.startswith("unknown")]
