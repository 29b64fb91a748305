"""Inverted indexes of the policies' users and applications conditions: which policies can apply to
these principals, and which policies' applications condition this sign-in's application fails.

Most policies of a tenant do not apply to most users (they target a group, a role, or everyone but an
exclusion group). Answering the users condition of every policy at once, from the user's principals
(`Signals.principals`: user, group and role ids), lets the engine skip the others entirely: at Entra's
limit of 195 policies the evaluation then costs what the few candidate policies cost.

Users conditions with guest-type objects (`Condition.guests`) are indexed too, the guest-type
objects answered once each per sign-in (a handful of distinct ones; none for members). The answer is
exactly the check's answer:
candidates = (include-All policies ∪ policies including one of the principals or the user's kind)
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
    #: Positions of indexed policies that include every user.
    everyone: frozenset[int]
    #: Positions of policies that are not indexed: always candidates.
    unindexed: frozenset[int]
    including: dict[str, frozenset[int]]
    excluding: dict[str, frozenset[int]]
    #: Positions of the policies with guest-type objects ...
    with_guests: frozenset[int] = frozenset()
    #: ... and per distinct guest-type object: the positions that include and that exclude its kinds.
    guests: tuple[tuple[GuestTypes, frozenset[int], frozenset[int]], ...] = ()

    @classmethod
    def build(cls, users: Sequence[tuple[int, Condition]]) -> UsersIndex:
        """`users`: (position, the users condition) per evaluated policy."""
        everyone: set[int] = set()
        unindexed: set[int] = set()
        with_guests: set[int] = set()
        including: dict[str, set[int]] = {}
        excluding: dict[str, set[int]] = {}
        guests: dict[GuestTypes, tuple[set[int], set[int]]] = {}
        for position, condition in users:
            if condition.guests is not None:
                with_guests.add(position)
                sets = condition.guests.principals
                for kinds, side in ((condition.guests.include, 0), (condition.guests.exclude, 1)):
                    if kinds is not None:
                        guests.setdefault(kinds, (set(), set()))[side].add(position)
            elif condition.principals is not None:
                sets = condition.principals
            else:
                unindexed.add(position)
                continue
            if sets.include_all:
                everyone.add(position)
            for principal in sets.include:
                including.setdefault(principal, set()).add(position)
            for principal in sets.exclude:
                excluding.setdefault(principal, set()).add(position)
        return cls(
            frozenset(everyone),
            frozenset(unindexed),
            {key: frozenset(value) for key, value in including.items()},
            {key: frozenset(value) for key, value in excluding.items()},
            frozenset(with_guests),
            tuple((kinds, frozenset(inc), frozenset(exc)) for kinds, (inc, exc) in guests.items()),
        )

    def candidates(self, principals: frozenset[str]) -> list[int]:
        """Positions of the policies whose users condition may match, in policy order. Without the
        sign-in's guest type, the policies with guest-type objects always may."""
        return sorted(self.matching(principals))

    def matching(self, principals: frozenset[str], signals: Signals | None = None) -> set[int]:
        """`candidates`, unordered (a new set the caller may change); exact when given the signals."""
        included = set(self.everyone)
        including = self.including
        for principal in including.keys() & principals:
            included |= including[principal]
        # A member is of no guest kind: only guests and external users can match a guest-type object.
        matched = (
            [entry for entry in self.guests if entry[0].matches(signals)]
            if signals is not None and signals.guest_type is not None
            else ()
        )
        for _, include, _ in matched:
            included |= include
        excluding = self.excluding
        if excluding:
            for principal in excluding.keys() & principals:
                included -= excluding[principal]
        for _, _, exclude in matched:
            included -= exclude
        included |= self.unindexed
        if signals is None:
            included |= self.with_guests
        return included


@dataclass(frozen=True, slots=True)
class AppsIndex:
    """The applications conditions of the common shapes (`AppSets`), answered for all policies at once."""

    #: Positions of the policies whose applications condition this index answers.
    indexed: frozenset[int]
    #: Of those, the ones that do not include every application: they fail unless the app is named.
    specific: frozenset[int]
    including: dict[str, frozenset[int]]
    including_keywords: dict[str, frozenset[int]]
    excluding: dict[str, frozenset[int]]

    @classmethod
    def build(cls, apps: Sequence[tuple[int, AppSets]]) -> AppsIndex:
        """`apps`: (position, the applications condition's sets) per indexable policy."""
        specific: set[int] = set()
        including: dict[str, set[int]] = {}
        keywords: dict[str, set[int]] = {}
        excluding: dict[str, set[int]] = {}
        for position, sets in apps:
            if not sets.include_all:
                specific.add(position)
            for app in sets.include:
                including.setdefault(app, set()).add(position)
            for keyword in sets.keywords:
                keywords.setdefault(keyword, set()).add(position)
            for app in sets.exclude:
                excluding.setdefault(app, set()).add(position)
        return cls(
            frozenset(position for position, _ in apps),
            frozenset(specific),
            {key: frozenset(value) for key, value in including.items()},
            {key: frozenset(value) for key, value in keywords.items()},
            {key: frozenset(value) for key, value in excluding.items()},
        )

    def failing(self, among: set[int], app_id: str | None, keywords: frozenset[str]) -> set[int]:
        """The positions in `among` whose indexed applications condition does not match.

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
                failed -= named
            for keyword in keywords:
                covered = self.including_keywords.get(keyword)
                if covered:
                    failed -= covered
        excluded = self.excluding.get(app_id)
        if excluded:
            failed |= among & excluded
        return failed
