"""The user's risk level (Conditional Access `userRiskLevels`) and its remediation (SPEC.md §4.3-4.5).

Until Identity Protection brings automatic detections, the only detections are the ones users report
("deny and report" on a push request, `userReportedSuspiciousActivity`). The level follows SPEC.md
§10: the highest level among the user's *active* detections (`atRisk` or `confirmedCompromised`);
`low` ones age out after 180 days. A secure password change during a sign-in that a user-risk policy
asked for remediates them all (`userPerformedSecuredPasswordChange`, SPEC.md §4.4).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.store.models import RiskDetection

#: Graph `riskLevel` values in increasing order; anything else (`hidden`, unknown) counts as none.
LEVELS = ("none", "low", "medium", "high")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
#: Graph `riskState` values of detections that still count towards the user's risk.
ACTIVE_STATES = ("atRisk", "confirmedCompromised")
#: SPEC.md §4.3 / §10: low-level detections age out after six months; medium and high ones persist.
LOW_AGES_OUT_AFTER = timedelta(days=180)

# One statement, built once: it runs for every sign-in of a tenant with Conditional Access policies,
# and reads the (tenant_id, user_id, detected_at) index.
_ACTIVE_LEVELS = sa.select(RiskDetection.risk_level, RiskDetection.detected_at).where(
    RiskDetection.tenant_id == sa.bindparam("tenant_id"),
    RiskDetection.user_id == sa.bindparam("user_id"),
    RiskDetection.risk_state.in_(ACTIVE_STATES),
)


def aggregate(detections: Iterable[tuple[str, datetime]], now: datetime) -> str:
    """The user risk level from active detections given as (level, detected at): the highest level,
    not counting low ones older than LOW_AGES_OUT_AFTER; "none" without any."""
    best = 0
    for level, detected_at in detections:
        rank = _RANK.get(level, 0)
        if level == "low" and now - detected_at > LOW_AGES_OUT_AFTER:
            continue
        best = max(best, rank)
    return LEVELS[best]


def level(db: Session | sa.Connection, tenant_id: str, user_id: str, now: datetime) -> str:
    """The user's risk level now: "none", "low", "medium" or "high"."""
    rows = db.execute(_ACTIVE_LEVELS, {"tenant_id": tenant_id, "user_id": user_id})
    return aggregate(((row.risk_level, row.detected_at) for row in rows), now)


def remediate(db: Session, tenant_id: str, user_id: str, now: datetime, detail: str) -> int:
    """Mark the user's active detections `remediated` with `detail` (Graph `riskDetail`, e.g.
    `userPerformedSecuredPasswordChange`); return how many there were.

    The detection has no columns for the detail and the time of the change, so they go into
    `additional_info` as Graph's `riskDetail` and `lastUpdatedDateTime`.
    """
    rows = db.scalars(
        sa.select(RiskDetection).where(
            RiskDetection.tenant_id == tenant_id,
            RiskDetection.user_id == user_id,
            RiskDetection.risk_state.in_(ACTIVE_STATES),
        )
    ).all()
    stamp = now.isoformat().replace("+00:00", "Z")
    for row in rows:
        row.risk_state = "remediated"
        # A new dict, not an update in place: the JSON column only notices assignment.
        row.additional_info = {**(row.additional_info or {}), "riskDetail": detail, "lastUpdatedDateTime": stamp}
    db.flush()
    return len(rows)


__all__ = ["ACTIVE_STATES", "LEVELS", "aggregate", "level", "remediate"]
