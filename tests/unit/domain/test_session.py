from __future__ import annotations

from datetime import UTC, datetime, timedelta

from limen.domain.session import (
    ACR_MULTI_FACTOR,
    ACR_SINGLE_FACTOR,
    CompletedMethod,
    acr_value,
    amr_values,
    auth_time,
    is_multi_factor,
)

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
PWD = CompletedMethod("password", "pwd", "knowledge", T0)
OTP = CompletedMethod("softwareOath", "otp", "possession", T0 + timedelta(seconds=20))
PIN = CompletedMethod("pin", "pin", "knowledge", T0 + timedelta(seconds=40))


def test_password_alone_is_single_factor() -> None:
    assert amr_values((PWD,)) == ["pwd"]
    assert acr_value((PWD,)) == ACR_SINGLE_FACTOR
    assert not is_multi_factor((PWD,))


def test_two_distinct_factors_are_mfa_and_say_so_in_amr() -> None:
    assert amr_values((PWD, OTP)) == ["pwd", "otp", "mfa"]
    assert acr_value((PWD, OTP)) == ACR_MULTI_FACTOR


def test_two_knowledge_factors_are_not_mfa() -> None:
    assert not is_multi_factor((PWD, PIN))
    assert "mfa" not in amr_values((PWD, PIN))


def test_auth_time_is_the_latest_step_and_none_without_steps() -> None:
    assert auth_time((PWD, OTP)) == OTP.at
    assert auth_time(()) is None


def test_completed_method_round_trips_through_json() -> None:
    assert CompletedMethod.from_json(OTP.to_json()) == OTP
