"""The user risk level from the user's active risk detections (SPEC.md §4.3, §10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from limen.service.user_risk import LOW_AGES_OUT_AFTER, aggregate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECENT = NOW - timedelta(days=1)


def test_no_active_detection_is_no_risk() -> None:
    assert aggregate([], NOW) == "none"


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (["low"], "low"),
        (["medium"], "medium"),
        (["high"], "high"),
        (["low", "medium"], "medium"),
        (["medium", "low", "high", "low"], "high"),
        (["high", "high"], "high"),
    ],
)
def test_the_highest_level_wins(levels: list[str], expected: str) -> None:
    assert aggregate([(level, RECENT) for level in levels], NOW) == expected


def test_unknown_and_hidden_levels_count_as_none() -> None:
    assert aggregate([("hidden", RECENT), ("unknownFutureValue", RECENT)], NOW) == "none"
    assert aggregate([("hidden", RECENT), ("medium", RECENT)], NOW) == "medium"


def test_low_detections_age_out_after_six_months_and_others_persist() -> None:
    old = NOW - LOW_AGES_OUT_AFTER - timedelta(seconds=1)
    assert aggregate([("low", old)], NOW) == "none"
    assert aggregate([("low", NOW - LOW_AGES_OUT_AFTER)], NOW) == "low"
    assert aggregate([("medium", old), ("high", NOW - timedelta(days=3650))], NOW) == "high"
    assert aggregate([("medium", old)], NOW) == "medium"
