"""Sets of policy positions as bitmasks: bit p of an int stands for the policy at position p.

The engine narrows the policies in play condition kind by condition kind for every sign-in (up to
195 of them, Entra's limit). As Python sets, each narrowing step costs a pass over tens of elements;
as ints it is one machine-word loop in C, a few dozen nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

#: For each byte value, the positions of its set bits.
_BYTE_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256)
)


def mask_of(positions: Iterable[int]) -> int:
    mask = 0
    for position in positions:
        mask |= 1 << position
    return mask


#: Masks met before and their positions: the same few dozen patterns come back sign-in after sign-in
#: (a stage's failures for the common groups of users), so most calls are one dict lookup.
_KNOWN: dict[int, tuple[int, ...]] = {}
_MAX_KNOWN = 8192  # a few MB at most


def positions_of(mask: int) -> tuple[int, ...]:
    """The set bits of `mask`, ascending."""
    known = _KNOWN.get(mask)
    if known is not None:
        return known
    found: list[int] = []
    base = 0
    for byte in mask.to_bytes((mask.bit_length() + 7) // 8, "little"):
        if byte:
            for bit in _BYTE_BITS[byte]:
                found.append(base + bit)
        base += 8
    positions = tuple(found)
    if len(_KNOWN) < _MAX_KNOWN:
        _KNOWN[mask] = positions
    return positions
