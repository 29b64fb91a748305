"""An inverted index of the policies' users conditions: which policies can apply to these principals.

Most policies of a tenant do not apply to most users (they target a group, a role, or everyone but an
exclusion group). Answering the users condition of every policy at once, from the user's principals
(`Signals.principals`: user, group and role ids), lets the engine skip the others entirely: at Entra's
limit of 195 policies the evaluation then costs what the few candidate policies cost.

Only users conditions without guest-type objects are indexed (`Condition.principals`); the others are
always candidates and their check runs as usual. The answer is exactly the check's answer:
candidates = (include-All policies ∪ policies including one of the principals)
             − policies excluding one of the principals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from limen.domain.access.conditions import PrincipalSets


@dataclass(frozen=True, slots=True)
class UsersIndex:
    #: Positions of indexed policies that include every user.
    everyone: frozenset[int]
    #: Positions of policies that are not indexed: always candidates.
    unindexed: frozenset[int]
    including: dict[str, frozenset[int]]
    excluding: dict[str, frozenset[int]]

    @classmethod
    def build(cls, users: Sequence[tuple[int, PrincipalSets | None]]) -> UsersIndex:
        """`users`: (position, the users condition's sets or None if not indexable) per policy."""
        everyone: set[int] = set()
        unindexed: set[int] = set()
        including: dict[str, set[int]] = {}
        excluding: dict[str, set[int]] = {}
        for position, sets in users:
            if sets is None:
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
        )

    def candidates(self, principals: frozenset[str]) -> list[int]:
        """Positions of the policies whose users condition may match, in policy order."""
        included = set(self.everyone)
        for principal in self.including.keys() & principals:
            included |= self.including[principal]
        for principal in self.excluding.keys() & principals:
            included -= self.excluding[principal]
        included |= self.unindexed
        return sorted(included)
