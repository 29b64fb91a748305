"""The Conditional Access engine: compile a tenant's policies once, evaluate each sign-in (SPEC.md §3).

    compiled = compile_policy_set(policies, named_locations, strengths, version)
    evaluation = evaluate(compiled, context, now)

Pure: no I/O, the caller passes `now`. The same call serves the sign-in (before and after the person
satisfies something: requirements are computed from `context.completed`), What If
(`PolicyEvaluation.to_what_if`), and the sign-in log (`Evaluation.applied_policies`,
`Evaluation.conditional_access_status`).

Rules (SPEC §3.2–§3.3, §3.9): every enabled and report-only policy is evaluated, disabled ones are
`notEnabled`; inside a policy every configured condition must match and exclusion beats inclusion;
a block in any applicable enabled policy blocks; the grant controls of all applicable enabled
policies must all be met, each by its own AND/OR; report-only policies are evaluated and recorded,
never enforced; a legacy client cannot meet any grant control (SPEC §3.10). A policy with a
condition Limen cannot evaluate does not apply and says why (`notEnoughInformation`), as Graph's
What If API does (SPEC §3.7) — so What If and the sign-in always agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from limen.domain.access.bits import mask_of, positions_of
from limen.domain.access.conditions import (
    ORDER,
    TRUSTED,
    AppSets,
    Check,
    Condition,
    Key,
    compile_conditions,
)
from limen.domain.access.context import EvaluationContext, Signals
from limen.domain.access.controls import (
    Control,
    Grant,
    GrantControl,
    GrantOutcome,
    GrantStatus,
    Session,
    SignInFrequency,
    assess_grant,
    assessment_key,
    compile_grant,
    compile_session,
    reads_device,
    stricter,
)
from limen.domain.access.device_filter import DEVICE_STATE_PROPERTIES
from limen.domain.access.index import AppsIndex, UsersIndex
from limen.domain.access.locations import IpRanges, LocationIndex, NamedLocation, compile_location
from limen.domain.access.strengths import BUILT_IN, AuthenticationStrength, CompletedStep, compile_strength

__all__ = [
    "CompiledPolicy",
    "CompiledPolicySet",
    "CompletedStep",
    "Control",
    "Evaluation",
    "EvaluationContext",
    "PolicyEvaluation",
    "PolicyResult",
    "PolicyState",
    "Requirement",
    "compile_policy_set",
    "evaluate",
]


class PolicyState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    REPORT_ONLY = "enabledForReportingButNotEnforced"


class PolicyResult(StrEnum):
    """Graph `appliedConditionalAccessPolicy.result` (SPEC §3.9)."""

    SUCCESS = "success"
    FAILURE = "failure"
    NOT_APPLIED = "notApplied"
    NOT_ENABLED = "notEnabled"
    REPORT_ONLY_SUCCESS = "reportOnlySuccess"
    REPORT_ONLY_FAILURE = "reportOnlyFailure"
    REPORT_ONLY_NOT_APPLIED = "reportOnlyNotApplied"
    REPORT_ONLY_INTERRUPTED = "reportOnlyInterrupted"


_STATES = {state.value.lower(): state for state in PolicyState}
_FAILED = frozenset({GrantStatus.BLOCK, GrantStatus.LEGACY, GrantStatus.IMPOSSIBLE})
# Read per policy and sign-in: module names cost less than the enum class's attribute hook.
_ENABLED = PolicyState.ENABLED


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    id: str
    display_name: str
    state: PolicyState
    conditions: tuple[Condition, ...]
    grant: Grant
    session: Session
    #: What Limen does not evaluate or cannot meet in this policy, and why (import, lint, What If).
    notes: tuple[str, ...]
    #: The stored Graph document, for What If (whatIfAnalysisResult extends the policy).
    document: Mapping[str, Any]
    # Results that depend only on which conditions failed are built once and shared by every
    # evaluation: most policies do not apply to most sign-ins, and this keeps that case cheap.
    _failed: dict[Check, PolicyEvaluation] = field(default_factory=dict, repr=False)
    _unknown: dict[tuple[int, ...], PolicyEvaluation] = field(default_factory=dict, repr=False)
    _applied: dict[tuple[object, ...], PolicyEvaluation] = field(default_factory=dict, repr=False)

    @property
    def report_only(self) -> bool:
        return self.state is PolicyState.REPORT_ONLY


#: Distinct values whose answers one stage keeps (`_Stage.answers`). The values are platforms, client
#: app types, risk levels and the like, a handful each, and sign-ins' memberships of named locations
#: (which offices and countries), a few hundred at most; the bound keeps odd input from growing it.
_MAX_ANSWERS = 512


@dataclass(frozen=True, slots=True, eq=False)
class _Stage:
    """One kind of condition (a `Condition.key`) across the evaluated policies that have it.

    `evaluate` answers one stage at a time for all the policies still in play rather than one policy
    at a time: most conditions of a kind are answered together, from an index or from answers shared
    by every sign-in with the same value, and only the rest run their check.
    """

    key: str
    #: Positions of the policies that have this condition.
    #: The policies that have this condition (a bitmask of positions, limen.domain.access.bits).
    positions: int
    #: Per position: the condition's index in its policy (for What If's unevaluated conditions) ...
    indices: dict[int, int]
    #: ... and the policy's result when this is its first condition that does not match.
    failed: dict[int, PolicyEvaluation]
    #: The checks to run (for what the index does not answer, and when no shared answers are at
    #: hand), each with the positions it answers for (those of equal `Condition.signature`, or its own).
    groups: tuple[tuple[Check, int], ...]
    #: The applications index (for the applications stage).
    apps: AppsIndex | None = None
    #: The value every member's answer depends on alone (`Condition.depends_on`), if they do ...
    depends_on: Key | None = None
    #: ... and the answers per value met so far: (positions answering False, positions answering None).
    #: Filled as sign-ins come; a value's answers are the same for every sign-in, so sharing is safe.
    answers: dict[Hashable, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicySet:
    """A tenant's policies, compiled. Immutable: cache it by `version` and share it across threads."""

    version: int
    policies: tuple[CompiledPolicy, ...]
    locations: Mapping[str, NamedLocation]
    strengths: Mapping[str, AuthenticationStrength]
    #: The evaluated policies' conditions by kind, in `conditions.ORDER`.
    _stages: tuple[_Stage, ...] = field(default=(), repr=False)
    #: Per position, the result unless the evaluation finds otherwise: `notEnabled` for disabled
    #: policies, "the users condition does not match" for the others (the index skips those).
    _initial: tuple[PolicyEvaluation, ...] = field(default=(), repr=False)
    #: Per position, the result when the policy applies if that does not depend on the sign-in (it
    #: blocks, or has no grant controls, and no sign-in frequency), else None.
    _fixed: tuple[PolicyEvaluation | None, ...] = field(default=(), repr=False)
    #: Per (shared) Grant, by id: whether assessing it reads the device, and its assessments so far
    #: by `assessment_key` (most sign-ins resemble one another in what grants read).
    _assessed: dict[int, tuple[bool, dict[Hashable, _Assessed]]] = field(default_factory=dict, repr=False)
    _index: UsersIndex = field(default_factory=lambda: UsersIndex.build(()), repr=False)
    #: The normalized device properties any condition or control reads (None: possibly all).
    _device_properties: frozenset[str] | None = field(default=None, repr=False)

    @property
    def has_enabled(self) -> bool:
        return any(p.state is PolicyState.ENABLED for p in self.policies)


def compile_policy_set(
    policies: Sequence[Mapping[str, Any]],
    named_locations: Mapping[str, Mapping[str, Any]],
    strengths: Mapping[str, Mapping[str, Any]],
    version: int,
) -> CompiledPolicySet:
    """Compile validated Graph documents. Never raises on odd shapes: whatever cannot be used is kept
    in the policy's `notes` and treated as SPEC.md says (unknown references match nothing)."""
    locations = {key.lower(): compile_location(key, doc) for key, doc in named_locations.items()}
    trusted = [loc for loc in locations.values() if loc.is_trusted and loc.kind == "ip"]
    if any(loc.ranges for loc in trusted):
        locations[TRUSTED] = NamedLocation(
            id=TRUSTED,
            display_name="All trusted locations",
            kind="ip",
            is_trusted=True,
            ranges=IpRanges.union(loc.ranges for loc in trusted),
        )
    compiled_strengths = {
        key.lower(): compile_strength({**doc, "id": doc.get("id") or key}) for key, doc in strengths.items()
    }
    compiled_strengths.update(BUILT_IN)  # built-ins are read-only: a stored copy cannot change them
    grants: dict[Grant, Grant] = {}
    located = LocationIndex.build(locations.values())
    compiled = tuple(_compile_policy(doc, locations, located, compiled_strengths, grants) for doc in policies)
    initial: list[PolicyEvaluation] = []
    fixed: list[PolicyEvaluation | None] = []
    users: list[tuple[int, Condition]] = []
    kinds: dict[str, list[tuple[int, int, Condition]]] = {}
    for position, policy in enumerate(compiled):
        if policy.state is PolicyState.DISABLED:
            initial.append(PolicyEvaluation(policy, False, PolicyResult.NOT_ENABLED, reasons=("policyNotEnabled",)))
            fixed.append(None)
            continue
        fixed.append(_fixed(policy))
        # The users condition is always first (compile_conditions): a policy the users index leaves
        # out has failed on it.
        users.append((position, policy.conditions[0]))
        initial.append(policy._failed[policy.conditions[0].check])
        for index, condition in enumerate(policy.conditions):
            kinds.setdefault(condition.key, []).append((position, index, condition))
    return CompiledPolicySet(
        version=version,
        policies=compiled,
        locations=locations,
        strengths=compiled_strengths,
        _stages=_stages(compiled, kinds),
        _initial=tuple(initial),
        _fixed=tuple(fixed),
        _assessed={id(grant): (reads_device(grant), {}) for grant in grants.values()},
        _index=UsersIndex.build(users),
        _device_properties=_device_properties(compiled),
    )


def _device_properties(policies: Sequence[CompiledPolicy]) -> frozenset[str] | None:
    """The device properties the set's conditions and controls read, or None if a condition may read
    any (a rule on extension attributes also reads whether they are visible)."""
    # The device grant controls read its state (controls.assess_grant, assessment_key).
    names: set[str] = set(DEVICE_STATE_PROPERTIES)
    for policy in policies:
        for condition in policy.conditions:
            if condition.key != "conditions.devices":
                continue
            if condition.device_reads is None:
                return None
            names.update(condition.device_reads)
    return frozenset(names)


def _fixed(policy: CompiledPolicy) -> PolicyEvaluation | None:
    """The result `_applied` gives whatever the sign-in, when there is one: assess_grant answers a
    block or an empty grant before reading any signal, and only a sign-in frequency adds to that."""
    grant = policy.grant
    if policy.session.sign_in_frequency is not None or not (grant.block or not grant.controls):
        return None
    status = GrantStatus.BLOCK if grant.block else GrantStatus.NONE
    return policy._applied.setdefault((status,), _applied_result(policy, status, (), False))


def _stages(
    policies: Sequence[CompiledPolicy], kinds: Mapping[str, Sequence[tuple[int, int, Condition]]]
) -> tuple[_Stage, ...]:
    rank = {key: number for number, key in enumerate(ORDER)}
    unknown = len(ORDER)
    # Answering kind by kind finds each policy's first failing condition only if every policy lists
    # its conditions in the order of the stages. Conditions Limen does not know share the last rank:
    # they never answer False, so their order among themselves decides nothing.
    for policy in policies:
        ranks = [rank.get(condition.key, unknown) for condition in policy.conditions]
        assert all(a < b or a == b == unknown for a, b in itertools.pairwise(ranks)), policy.id
    stages: list[_Stage] = []
    for key in sorted(kinds, key=lambda k: (rank.get(k, unknown), k)):
        entries = kinds[key]
        indices = {position: index for position, index, _ in entries}
        failed = {position: policies[position]._failed[condition.check] for position, _, condition in entries}
        positions = mask_of(indices)
        shared = {condition.depends_on for _, _, condition in entries}
        depends_on = shared.pop() if len(shared) == 1 else None
        apps: list[tuple[int, AppSets]] = []
        groups: dict[Hashable, tuple[Check, set[int]]] = {}
        for position, _, condition in entries:
            if condition.applications is not None:
                apps.append((position, condition.applications))
            # Users conditions are answered by the users index before the stages.
            elif condition.principals is None and condition.guests is None:
                signature = condition.signature if condition.signature is not None else ("position", position)
                groups.setdefault(signature, (condition.check, set()))[1].add(position)
        if apps or sum(len(group) for _, group in groups.values()) != len(entries):
            # Shared answers are worked out by running every member's check: only when all have one.
            depends_on = None
        if apps or groups:
            stages.append(
                _Stage(
                    key,
                    positions,
                    indices,
                    failed,
                    tuple((check, mask_of(group)) for check, group in groups.values()),
                    AppsIndex.build(apps) if apps else None,
                    depends_on,
                )
            )
    return tuple(stages)


def _compile_policy(
    document: Mapping[str, Any],
    locations: Mapping[str, NamedLocation],
    index: LocationIndex,
    strengths: Mapping[str, AuthenticationStrength],
    grants: dict[Grant, Grant],
) -> CompiledPolicy:
    notes: list[str] = []
    raw_state = str(document.get("state") or "")
    state = _STATES.get(raw_state.lower())
    if state is None:
        notes.append(f"state: unknown value {raw_state!r}; treated as disabled")
        state = PolicyState.DISABLED
    conditions_doc = document.get("conditions")
    conditions = compile_conditions(conditions_doc if isinstance(conditions_doc, Mapping) else {}, locations, index)
    notes.extend(conditions.notes)
    grant, grant_notes = compile_grant(document.get("grantControls"), strengths)
    # Policies with equal grant controls share one Grant, so that an evaluation assesses each distinct
    # one once (`_applied`): a tenant has many policies and few different grants.
    grant = grants.setdefault(grant, grant)
    session, session_notes = compile_session(document.get("sessionControls"))
    policy = CompiledPolicy(
        id=str(document.get("id") or ""),
        display_name=str(document.get("displayName") or ""),
        state=state,
        conditions=conditions.conditions,
        grant=grant,
        session=session,
        notes=(*notes, *grant_notes, *session_notes),
        document=document,
    )
    policy._failed.update(
        (condition.check, _not_applied(policy, index, ())) for index, condition in enumerate(conditions.conditions)
    )
    return policy


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """Something the sign-in still needs, from one or more enabled policies.

    `control` says what (`mfa`, `authenticationStrength`, `registerSecurityInfo`, `passwordChange`,
    `reauthenticate`, ...); `strength` is set for `authenticationStrength` (and for a registration
    that must produce a method of that strength); `detail` is the strength, terms-of-use or custom
    control id, or the name of an unsupported control.
    """

    control: Control
    detail: str = ""
    strength: AuthenticationStrength | None = None
    policy_ids: tuple[str, ...] = ()

    @property
    def interactive(self) -> bool:
        return GrantControl(self.control, self.detail, self.strength).interactive

    @property
    def allowed_combinations(self) -> tuple[str, ...]:
        return self.strength.allowed_combinations if self.strength is not None else ()


@dataclass(frozen=True, slots=True)
class PolicyEvaluation:
    """One policy's verdict for one sign-in."""

    policy: CompiledPolicy
    #: What If `policyApplies`: every condition matched (for disabled policies: False).
    applies: bool
    result: PolicyResult
    #: `whatIfAnalysisReasons` values: the first condition that did not match (SPEC §3.7), or
    #: `notEnoughInformation` / `invalidCondition` / `policyNotEnabled`; empty when it applies.
    reasons: tuple[str, ...] = ()
    #: `conditionalAccessConditions` flags for the log's conditionsSatisfied / conditionsNotSatisfied.
    satisfied: tuple[str, ...] = ()
    not_satisfied: tuple[str, ...] = ()
    #: Conditions that could not be evaluated for this sign-in, and why.
    unevaluated: tuple[str, ...] = ()
    grant: GrantStatus | None = None
    #: Grant controls still to meet (UNMET) or that cannot be met (IMPOSSIBLE), in prompt order.
    unmet: tuple[GrantControl, ...] = ()
    #: The sign-in frequency of this policy requires a new authentication.
    reauthenticate: bool = False
    #: What it blocks the sign-in with when `grant` is a failure (built once with the shared result).
    block_cause: BlockCause | None = field(default=None, compare=False, repr=False)

    @property
    def analysis_reasons(self) -> str:
        """Graph's flags string: "notSet" when the policy applies."""
        return ",".join(self.reasons) if self.reasons else "notSet"

    @property
    def enforced(self) -> bool:
        """Applies and is enabled: its controls are required of this sign-in."""
        return self.applies and self.policy.state is PolicyState.ENABLED

    def to_graph(self) -> dict[str, Any]:
        """Graph `appliedConditionalAccessPolicy` (with beta's condition flags and strength)."""
        policy = self.policy
        enabled = self.result is not PolicyResult.NOT_ENABLED
        out: dict[str, Any] = {
            "id": policy.id,
            "displayName": policy.display_name,
            "enforcedGrantControls": list(policy.grant.graph_names) if enabled else [],
            "enforcedSessionControls": list(policy.session.graph_names) if enabled else [],
            "result": self.result.value,
            "conditionsSatisfied": ",".join(self.satisfied) or "none",
            "conditionsNotSatisfied": ",".join(self.not_satisfied) or "none",
        }
        strength_id = policy.grant.strength_id
        if strength_id is not None and enabled:
            strength = next((c.strength for c in policy.grant.controls if c.detail == strength_id), None)
            out["authenticationStrength"] = {
                "authenticationStrengthId": strength_id,
                "displayName": strength.display_name if strength is not None else "",
                "authenticationStrengthResult": self._strength_result(strength_id),
            }
        return out

    def _strength_result(self, strength_id: str) -> str:
        if not self.applies or self.grant in (GrantStatus.BLOCK, GrantStatus.LEGACY):
            return "notSet"
        pending = [c for c in self.unmet if c.detail == strength_id]
        if not pending:
            return "satisfied"
        if self.grant is GrantStatus.IMPOSSIBLE:
            return "cannotSatisfy"
        if any(c.kind is Control.REGISTER_SECURITY_INFO for c in pending):
            return "singleRegistrationRequired"
        return "singleChallengeRequired"

    def to_what_if(self) -> dict[str, Any]:
        """Graph `whatIfAnalysisResult`: the policy document plus `policyApplies` and `analysisReasons`."""
        out = {key: value for key, value in self.policy.document.items() if not key.startswith("@")}
        out["policyApplies"] = self.applies
        out["analysisReasons"] = self.analysis_reasons
        return out


@dataclass(frozen=True, slots=True)
class BlockCause:
    policy_id: str
    #: "block", "legacyClient", or the control that cannot be met ("compliantDevice", ...).
    cause: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict for a sign-in. `blocked` or not; if not, `requirements` still to meet (empty:
    allowed as is) and the session controls to apply."""

    version: int
    policies: tuple[PolicyEvaluation, ...]
    blocked: bool
    block_causes: tuple[BlockCause, ...]
    requirements: tuple[Requirement, ...]
    #: The strictest sign-in frequency of the applicable enabled policies (the session's lifetime).
    sign_in_frequency: SignInFrequency | None
    #: "never" (no persistent session) wins over "always".
    persistent_browser: str | None
    #: Session controls of applicable enabled policies that Limen stores but does not enforce.
    session_not_enforced: tuple[str, ...]

    @property
    def conditional_access_status(self) -> str:
        """Sign-in log `conditionalAccessStatus`: notApplied when no enabled policy applied."""
        enforced = [p for p in self.policies if p.enforced]
        if not enforced:
            return "notApplied"
        if self.blocked or any(p.result is PolicyResult.FAILURE for p in enforced):
            return "failure"
        return "success"

    @property
    def applied_policies(self) -> list[dict[str, Any]]:
        """Sign-in log `appliedConditionalAccessPolicies`: every policy, in set order."""
        return [p.to_graph() for p in self.policies]

    @property
    def requirement_keys(self) -> frozenset[str]:
        return frozenset(r.control.value for r in self.requirements)

    def what_if(self, applied_only: bool = False) -> list[dict[str, Any]]:
        """Graph What If results; disabled policies are not part of the answer (SPEC §3.7)."""
        return [
            p.to_what_if()
            for p in self.policies
            if p.policy.state is not PolicyState.DISABLED and (p.applies or not applied_only)
        ]


# --- evaluation -----------------------------------------------------------------------------------


def evaluate(compiled: CompiledPolicySet, context: EvaluationContext, now: datetime) -> Evaluation:
    """Evaluate every policy of the set for one sign-in (see the module docstring)."""
    signals = Signals(context, compiled._device_properties)
    results = list(compiled._initial)
    # The policies that may still apply, narrowed stage by stage. A policy leaves at the first of its
    # conditions (in condition order, as the stages are) that does not match, with that condition's
    # result; the conditions that could not be evaluated are noted by their index in the policy.
    remaining = compiled._index.matching(signals)
    unknown: dict[int, list[int]] = {}
    # (the stage's results for its failures, the positions that failed there): each position fails
    # at most once, at its first condition that does not match.
    failures: list[tuple[dict[int, PolicyEvaluation], int]] = []
    for stage in compiled._stages:
        if not remaining & stage.positions:
            continue
        indices = stage.indices
        depends_on = stage.depends_on
        answers = None
        if depends_on is not None:
            value = depends_on(signals)
            answers = stage.answers.get(value)
            if answers is None and len(stage.answers) < _MAX_ANSWERS:
                answers = _answers(stage, value, signals)
        if answers is not None:
            failed = remaining & answers[0]
            unsure = remaining & answers[1]
            if unsure:
                for position in positions_of(unsure):
                    unknown.setdefault(position, []).append(indices[position])
        else:
            apps = stage.apps
            failed = 0 if apps is None else apps.failing(remaining, signals.app_id, signals.app_keywords)
            for check, group in stage.groups:
                if not remaining & group:
                    continue
                answer = check(signals)
                if answer:
                    continue
                if answer is None:
                    for position in positions_of(remaining & group):
                        unknown.setdefault(position, []).append(indices[position])
                else:
                    failed |= remaining & group
        if failed:
            remaining &= ~failed
            failures.append((stage.failed, failed))
    for failed_results, failed in failures:
        for position in positions_of(failed):
            results[position] = failed_results[position]
    applied: list[PolicyEvaluation] = []
    policies = compiled.policies
    outcomes: dict[int, _Assessed] = {}
    fixed = compiled._fixed
    assessed = compiled._assessed
    for position in positions_of(remaining):  # policy order: requirements list their policies in that order
        policy = policies[position]
        marks = unknown.get(position) if unknown else None
        if marks:
            results[position] = _with_unknowns(policy, tuple(sorted(marks)))
            continue
        result = fixed[position]
        if result is None:
            result = _applied(policy, signals, now, outcomes, assessed)
        results[position] = result
        if policy.state is _ENABLED:
            applied.append(result)
    return _enforce(compiled.version, tuple(results), applied)


def _answers(stage: _Stage, value: Hashable, signals: Signals) -> tuple[int, int]:
    """Every member's answer for this value (of `stage.depends_on`), kept for the next sign-ins:
    (the positions answering False, those answering None)."""
    failed = 0
    unknown = 0
    for check, group in stage.groups:
        answer = check(signals)
        if answer is None:
            unknown |= group
        elif not answer:
            failed |= group
    return stage.answers.setdefault(value, (failed, unknown))


def _enforce(version: int, results: tuple[PolicyEvaluation, ...], applied: list[PolicyEvaluation]) -> Evaluation:
    """Phase 2 (SPEC §3.2): what the applicable enabled policies require, together."""
    blocked: list[BlockCause] = []
    frequency: SignInFrequency | None = None
    browser: str | None = None
    not_enforced: list[str] = []
    for result in applied:
        if result.block_cause is not None:
            blocked.append(result.block_cause)
        session = result.policy.session
        if session.sign_in_frequency is not None:
            frequency = stricter(frequency, session.sign_in_frequency)
        if session.persistent_browser == "never" or (browser is None and session.persistent_browser):
            browser = session.persistent_browser
        if session.not_enforced:
            not_enforced.extend(n for n in session.not_enforced if n not in not_enforced)
    return Evaluation(
        version=version,
        policies=results,
        blocked=bool(blocked),
        block_causes=tuple(blocked),
        # A blocked sign-in is not asked for anything: nothing it does can change the outcome.
        requirements=() if blocked else _requirements(applied),
        sign_in_frequency=frequency,
        persistent_browser=browser,
        session_not_enforced=tuple(not_enforced),
    )


def _requirements(applied: list[PolicyEvaluation]) -> tuple[Requirement, ...]:
    """What the applicable enabled policies still ask for (none of them blocks), merged by control."""
    wanted: dict[tuple[Control, str], Requirement] = {}
    for result in applied:
        pending = result.unmet if result.grant is GrantStatus.UNMET else ()
        if result.reauthenticate:
            pending = (GrantControl(Control.REAUTHENTICATE), *pending)
        for control in pending:
            key = (control.kind, control.detail)
            known = wanted.get(key)
            wanted[key] = Requirement(
                control.kind,
                control.detail,
                control.strength,
                (*known.policy_ids, result.policy.id) if known is not None else (result.policy.id,),
            )
    return tuple(sorted(wanted.values(), key=_requirement_order))


_CONTROL_ORDER = {control: index for index, control in enumerate(Control)}


def _requirement_order(requirement: Requirement) -> tuple[int, str]:
    return _CONTROL_ORDER[requirement.control], requirement.detail


def _with_unknowns(policy: CompiledPolicy, unknown: tuple[int, ...]) -> PolicyEvaluation:
    cached = policy._unknown.get(unknown)
    if cached is None:
        cached = policy._unknown.setdefault(unknown, _not_applied(policy, -1, unknown))
    return cached


def _not_applied(policy: CompiledPolicy, failed: int, unknown: tuple[int, ...]) -> PolicyEvaluation:
    """The result of a policy whose condition `failed` did not match (or, with failed = -1, whose
    `unknown` conditions could not be evaluated)."""
    conditions = policy.conditions
    last = failed if failed >= 0 else len(conditions)
    satisfied = _flags(conditions[i] for i in range(last) if i not in unknown)
    if failed >= 0:
        reasons: tuple[str, ...] = (conditions[failed].reason,)
        not_satisfied = _flags([conditions[failed]])
    else:
        reasons = (conditions[unknown[0]].unknown_reason,)
        not_satisfied = _flags(conditions[i] for i in unknown)
    return PolicyEvaluation(
        policy,
        False,
        PolicyResult.REPORT_ONLY_NOT_APPLIED if policy.report_only else PolicyResult.NOT_APPLIED,
        reasons=reasons,
        satisfied=satisfied,
        not_satisfied=not_satisfied,
        unevaluated=tuple(conditions[i].unknown_note or conditions[i].key for i in unknown),
    )


def _flags(conditions: Iterable[Condition]) -> tuple[str, ...]:
    out: list[str] = []
    for condition in conditions:
        if condition.flag not in out:
            out.append(condition.flag)
    return tuple(out)


#: A grant's assessment, with the key of the results it leads to (see `_applied`).
_Assessed = tuple[GrantOutcome, tuple[object, ...]]
#: Assessments kept per grant (`CompiledPolicySet._assessed`); the keys are few in practice.
_MAX_ASSESSED = 256


def _applied(
    policy: CompiledPolicy,
    signals: Signals,
    now: datetime,
    outcomes: dict[int, _Assessed],
    assessed: dict[int, tuple[bool, dict[Hashable, _Assessed]]],
) -> PolicyEvaluation:
    # `outcomes`: this evaluation's assessments by (shared, see _compile_policy) Grant; `assessed`:
    # those of earlier sign-ins, by what the assessment reads of them.
    grant = policy.grant
    found = outcomes.get(id(grant))
    if found is None:
        device, known = assessed[id(grant)]
        facts = assessment_key(signals, device)
        found = known.get(facts)
        if found is None:
            outcome = assess_grant(grant, signals)
            # The result depends only on (status, which controls are unmet, stale), and the controls
            # are the compiled grant's own objects: one result per combination, keyed by identity.
            found = (outcome, (outcome.status, *map(id, outcome.unmet)))
            if len(known) < _MAX_ASSESSED:
                found = known.setdefault(facts, found)
        outcomes[id(grant)] = found
    outcome, key = found
    frequency = policy.session.sign_in_frequency
    stale = frequency is not None and frequency.stale_for(signals, now)
    if stale:
        key = (*key, "stale")
    cached = policy._applied.get(key)
    if cached is None:
        cached = policy._applied.setdefault(key, _applied_result(policy, outcome.status, outcome.unmet, stale))
    return cached


def _applied_result(
    policy: CompiledPolicy, status: GrantStatus, unmet: tuple[GrantControl, ...], stale: bool
) -> PolicyEvaluation:
    if policy.report_only:
        # SPEC §3.9: failure when a non-interactive requirement fails; interrupted when meeting it
        # would need the person to do something; success when it is already met.
        if status in _FAILED:
            result = PolicyResult.REPORT_ONLY_FAILURE
        elif status is GrantStatus.UNMET or stale:
            result = PolicyResult.REPORT_ONLY_INTERRUPTED
        else:
            result = PolicyResult.REPORT_ONLY_SUCCESS
    elif status in _FAILED or status is GrantStatus.UNMET or stale:
        result = PolicyResult.FAILURE
    else:
        result = PolicyResult.SUCCESS
    cause: BlockCause | None = None
    if status in _FAILED:
        cause = BlockCause(policy.id, unmet[0].kind.value if status is GrantStatus.IMPOSSIBLE else str(status))
    return PolicyEvaluation(
        policy,
        True,
        result,
        satisfied=_flags(policy.conditions),
        grant=status,
        unmet=unmet,
        reauthenticate=stale,
        block_cause=cause,
    )
