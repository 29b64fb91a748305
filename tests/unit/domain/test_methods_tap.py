"""Temporary Access Pass rules (SPEC.md §7.5): values, terms, usability and the Graph shape."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from limen.domain import methods
from limen.domain.errors import ValidationFailed
from limen.domain.methods import tap
from limen.domain.methods.base import Environment, Prompt, Reason, Rejected, StoredMethod, Strength, Subject, Verified
from limen.domain.session import CompletedMethod, amr_values, is_multi_factor

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ADELE = Subject(user_id="u1", user_principal_name="adele@contoso.test", display_name="Adele Vance")


def _digest(value: str) -> str:
    return hmac.new(b"server-key", value.encode(), hashlib.sha256).hexdigest()


def _env(now: datetime = NOW) -> Environment:
    return Environment(now=now, issuer="https://login.contoso.test", tenant_name="Contoso", digest=_digest)


def _stored(value: str, *, one_time: bool = False, uses: int = 0, lifetime: int = 60) -> StoredMethod:
    terms = tap.terms(NOW, lifetime_minutes=lifetime, one_time=one_time)
    return StoredMethod(
        id="tap1",
        key=tap.SPEC.key,
        display_name="Temporary Access Pass",
        data=terms.to_data(),
        secret=tap.lookup_key(value, _digest),
        counter=uses,
        created_at=NOW,
    )


def test_a_pass_has_eight_unambiguous_characters_by_default_and_8_to_48_on_request() -> None:
    values = {tap.generate() for _ in range(200)}
    assert len(values) == 200
    assert all(len(v) == 8 and set(v) <= set(tap.ALPHABET) for v in values)
    assert not set(tap.ALPHABET) & set("0O1Il")
    assert len(tap.generate(48)) == 48
    for length in (7, 49):
        with pytest.raises(ValidationFailed, match="8 to 48"):
            tap.generate(length)


def test_terms_default_to_one_hour_from_now_multi_use() -> None:
    terms = tap.terms(NOW)
    assert (terms.start, terms.lifetime_minutes, terms.one_time) == (NOW, 60, False)
    assert terms.expires_at == NOW + timedelta(hours=1)
    assert tap.Terms.from_data(terms.to_data()) == terms


@pytest.mark.parametrize("minutes", [10, 43_200])
def test_lifetimes_from_10_minutes_to_30_days_are_accepted(minutes: int) -> None:
    assert tap.terms(NOW, lifetime_minutes=minutes).lifetime_minutes == minutes


@pytest.mark.parametrize("minutes", [9, 43_201, 0, -60])
def test_lifetimes_outside_10_minutes_to_30_days_are_refused(minutes: int) -> None:
    with pytest.raises(ValidationFailed, match="between 10 and 43200"):
        tap.terms(NOW, lifetime_minutes=minutes)


def test_a_start_may_be_later_but_not_in_the_past_and_needs_a_zone() -> None:
    later = tap.terms(NOW, start=NOW + timedelta(days=2))
    assert later.start == NOW + timedelta(days=2)
    # A few minutes of clock skew between the admin's machine and the server are tolerated.
    assert tap.terms(NOW, start=NOW - timedelta(minutes=4)).start == NOW - timedelta(minutes=4)
    with pytest.raises(ValidationFailed, match="in the past"):
        tap.terms(NOW, start=NOW - timedelta(hours=1))
    with pytest.raises(ValidationFailed, match="time zone"):
        tap.terms(NOW, start=datetime(2026, 5, 5, 9, 0))  # naive on purpose


def test_usable_between_start_and_expiry_and_a_one_time_pass_only_until_used() -> None:
    data = tap.terms(NOW, start=NOW + timedelta(hours=1), lifetime_minutes=30).to_data()
    assert tap.usable(data, NOW) is tap.Usability.NOT_YET_VALID
    assert tap.usable(data, NOW + timedelta(minutes=59, seconds=59)) is tap.Usability.NOT_YET_VALID
    assert tap.usable(data, NOW + timedelta(hours=1)) is None
    assert tap.usable(data, NOW + timedelta(hours=1, minutes=29, seconds=59)) is None
    assert tap.usable(data, NOW + timedelta(hours=1, minutes=30)) is tap.Usability.EXPIRED
    assert tap.usable(data, NOW + timedelta(hours=1), uses=3) is None  # multi-use

    once = tap.terms(NOW, one_time=True).to_data()
    assert tap.usable(once, NOW) is None
    assert tap.usable(once, NOW, uses=1) is tap.Usability.ONE_TIME_USED


def test_graph_shape_hides_the_value_except_when_given_and_reports_usability() -> None:
    data = tap.terms(NOW, lifetime_minutes=120, one_time=True).to_data()
    shape = tap.graph_shape("tap1", NOW, data, NOW + timedelta(minutes=5), value="Abcd2345")
    assert shape == {
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        "id": "tap1",
        "temporaryAccessPass": "Abcd2345",
        "createdDateTime": "2026-05-04T09:00:00Z",
        "startDateTime": "2026-05-04T09:00:00Z",
        "lifetimeInMinutes": 120,
        "isUsableOnce": True,
        "isUsable": True,
        "methodUsabilityReason": "EnabledByPolicy",
    }
    later = tap.graph_shape("tap1", NOW, data, NOW + timedelta(hours=3))
    assert later["temporaryAccessPass"] is None
    assert (later["isUsable"], later["methodUsabilityReason"]) == (False, "Expired")
    used = tap.graph_shape("tap1", NOW, data, NOW, uses=1)
    assert (used["isUsable"], used["methodUsabilityReason"]) == (False, "OneTimeUsed")
    assert tap.mode_of(data) == "temporaryAccessPassOneTime"
    assert tap.mode_of(tap.terms(NOW).to_data()) == "temporaryAccessPassMultiUse"


def test_the_stored_key_is_a_keyed_digest_that_ignores_surrounding_whitespace() -> None:
    key = tap.lookup_key("Abcd2345", _digest)
    assert "Abcd2345" not in key
    assert tap.lookup_key("  Abcd 2345\n", _digest) == key
    assert tap.lookup_key("abcd2345", _digest) != key  # case matters: it is half the alphabet
    assert tap.lookup_key("Abcd2345", lambda v: _digest("other key" + v)) != key


def test_verify_accepts_the_pass_and_spends_a_one_time_pass_through_the_counter() -> None:
    one_time = tap.METHOD.verify(ADELE, _stored("Abcd2345", one_time=True), {}, {"code": " Abcd2345 "}, _env())
    assert isinstance(one_time, Verified) and one_time.counter == 1 and one_time.log_detail == "one-time"
    multi = tap.METHOD.verify(ADELE, _stored("Abcd2345", uses=4), {}, {"code": "Abcd2345"}, _env())
    assert isinstance(multi, Verified) and multi.counter is None


def test_verify_refuses_a_wrong_pass_as_a_failure_and_an_unusable_right_one_without_counting() -> None:
    wrong = tap.METHOD.verify(ADELE, _stored("Abcd2345"), {}, {"code": "Abcd2346"}, _env())
    assert isinstance(wrong, Rejected) and wrong.reason is Reason.WRONG_CODE and wrong.counts_as_failure
    spent = tap.METHOD.verify(ADELE, _stored("Abcd2345", one_time=True, uses=1), {}, {"code": "Abcd2345"}, _env())
    assert isinstance(spent, Rejected) and spent.reason is Reason.EXPIRED and not spent.counts_as_failure
    assert "already used" in spent.message
    late = tap.METHOD.verify(ADELE, _stored("Abcd2345"), {}, {"code": "Abcd2345"}, _env(NOW + timedelta(minutes=60)))
    assert isinstance(late, Rejected) and "expired" in late.message
    # The terms are only told to someone who has the pass.
    wrong_and_spent = tap.METHOD.verify(
        ADELE, _stored("Abcd2345", one_time=True, uses=1), {}, {"code": "Zzzz2345"}, _env()
    )
    assert isinstance(wrong_and_spent, Rejected) and wrong_and_spent.reason is Reason.WRONG_CODE
    empty = tap.METHOD.verify(ADELE, _stored("Abcd2345"), {}, {"code": "  "}, _env())
    assert isinstance(empty, Rejected) and empty.reason is Reason.MALFORMED and not empty.counts_as_failure


def test_begin_challenge_refuses_an_unusable_pass_and_registration_is_for_admins() -> None:
    assert isinstance(tap.METHOD.begin_challenge(ADELE, _stored("Abcd2345"), _env()), Prompt)
    gone = tap.METHOD.begin_challenge(ADELE, _stored("Abcd2345"), _env(NOW + timedelta(hours=2)))
    assert isinstance(gone, Rejected) and gone.reason is Reason.EXPIRED
    refused = tap.METHOD.begin_registration(ADELE, {}, _env())
    assert refused.reason is Reason.NOT_ALLOWED and "administrator" in refused.message


def test_spec_a_pass_is_a_first_factor_that_is_mfa_alone_and_not_self_service() -> None:
    spec = tap.SPEC
    assert methods.spec("temporaryAccessPass") is spec and methods.method("temporaryAccessPass") is tap.METHOD
    assert spec.graph_type == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    assert spec.log_name == "Temporary Access Pass"
    assert spec.first_factor and spec.multi_factor_alone
    assert not spec.self_service and not spec.second_factor
    assert spec.strengths == frozenset({Strength.MFA})
    used = CompletedMethod("temporaryAccessPass", " ".join(spec.amr), spec.factor.value, NOW)
    assert is_multi_factor((used,))
    assert amr_values((used,)) == ["otp", "mfa"]
