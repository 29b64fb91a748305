"""Inverted indexes of the policies' users and applications conditions: which policies can apply to
these principals, and which policies' applications condition this sign-in's application fails.

Most policies of a tenant do not apply to most users (they target a group, a role, or everyone but an
exclusion group). Answering the users condition of every policy at once, from the user's principals
(`Signals.principals`: user, group and role ids), lets the engine skip the others entirely: at Entra's
limit of 195 policies the evaluation then costs what the few candidate policies cost.

Users conditions with guest-type objects (`Condition.guests`) are indexed too, the guest-type
objects answered once each per sign-in (a handful of distinct ones; none for members). Every users
condition is one of the two, and the answer is exactly the check's answer:
matching = (include-All policies ∪ policies including one of the principals or the user's kind)
           − policies excluding one of the principals or the user's kind.

The applications index works the same way for the common applications conditions
(`Condition.applications`): at Entra's limit most policies target all applications, so it mostly
answers the few that name some, and the engine runs no applications check at all for those it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from limen.domain.access.conditions import AppSets, Condition, GuestTypes
from limen.domain.access.context import Signals


@dataclass(frozen=True, slots=True)
class UsersIndex:
    """Policy positions as bitmasks (limen.domain.access.bits)."""

    #: Policies that include every user.
    everyone: int
    including: dict[str, int]
    excluding: dict[str, int]
    #: Per distinct guest-type object: the policies that include and that exclude its kinds.
    guests: tuple[tuple[GuestTypes, int, int], ...] = ()

    @classmethod
    def build(cls, users: Sequence[tuple[int, Condition]]) -> UsersIndex:
        """`users`: (position, the users condition) per evaluated policy."""
        everyone = 0
        including: dict[str, int] = {}
        excluding: dict[str, int] = {}
        guests: dict[GuestTypes, list[int]] = {}
        for position, condition in users:
            bit = 1 << position
            if condition.guests is not None:
                sets = condition.guests.principals
                for kinds, side in ((condition.guests.include, 0), (condition.guests.exclude, 1)):
                    if kinds is not None:
                        guests.setdefault(kinds, [0, 0])[side] |= bit
            else:
                assert condition.principals is not None, (
                    "conditions._users gives every users condition one or the other"
                )
                sets = condition.principals
            if sets.include_all:
                everyone |= bit
            for principal in sets.include:
                including[principal] = including.get(principal, 0) | bit
            for principal in sets.exclude:
                excluding[principal] = excluding.get(principal, 0) | bit
        return cls(everyone, including, excluding, tuple((kinds, inc, exc) for kinds, (inc, exc) in guests.items()))

    def matching(self, signals: Signals) -> int:
        """The policies whose users condition matches this sign-in (a bitmask of positions)."""
        principals = signals.principals
        included = self.everyone
        including = self.including
        for principal in including.keys() & principals:
            included |= including[principal]
        # A member is of no guest kind: only guests and external users can match a guest-type object.
        matched = (
            [entry for entry in self.guests if entry[0].matches(signals)] if signals.guest_type is not None else ()
        )
        for _, include, _ in matched:
            included |= include
        excluding = self.excluding
        if excluding:
            for principal in excluding.keys() & principals:
                included &= ~excluding[principal]
        for _, _, exclude in matched:
            included &= ~exclude
        return included


@dataclass(frozen=True, slots=True)
class AppsIndex:
    """The applications conditions of the common shapes (`AppSets`), answered for all policies at once
    (positions as bitmasks)."""

    #: The policies whose applications condition this index answers.
    indexed: int
    #: Of those, the ones that do not include every application: they fail unless the app is named.
    specific: int
    including: dict[str, int]
    including_keywords: dict[str, int]
    excluding: dict[str, int]

    @classmethod
    def build(cls, apps: Sequence[tuple[int, AppSets]]) -> AppsIndex:
        """`apps`: (position, the applications condition's sets) per indexable policy."""
        indexed = specific = 0
        including: dict[str, int] = {}
        keywords: dict[str, int] = {}
        excluding: dict[str, int] = {}
        for position, sets in apps:
            bit = 1 << position
            indexed |= bit
            if not sets.include_all:
                specific |= bit
            for app in sets.include:
                including[app] = including.get(app, 0) | bit
            for keyword in sets.keywords:
                keywords[keyword] = keywords.get(keyword, 0) | bit
            for app in sets.exclude:
                excluding[app] = excluding.get(app, 0) | bit
        return cls(indexed, specific, including, keywords, excluding)

    def failing(self, among: int, app_id: str | None, keywords: frozenset[str]) -> int:
        """The policies in `among` whose indexed applications condition does not match.

        The condition matches when there is an application, it is not excluded, and it is included
        (all applications, this one by id, or one of its keywords); so it fails when there is no
        application, or the application is excluded, or the policy names specific applications and
        none of them is this one.
        """
        if app_id is None:
            return among & self.indexed
        failed = among & self.specific
        if failed:
            named = self.including.get(app_id)
            if named:
                failed &= ~named
            for keyword in keywords:
                covered = self.including_keywords.get(keyword)
                if covered:
                    failed &= ~covered
        excluded = self.excluding.get(app_id)
        if excluded:
            failed |= among & excluded
        return failed
