"""Directory use cases against a real database: nesting, cycles, effective roles, paging, deletes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.domain.errors import Conflict, NotFound, ValidationFailed
from limen.service import directory as d
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import GroupMember, RoleAssignment, User

USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


def _user(services: Services, tenant_id: str, upn: str) -> str:
    with transaction(services.db) as db:
        now = services.clock.now()
        return d.create_user(db, tenant_id, now, user_principal_name=upn, display_name=upn.split("@")[0]).id


def _group(services: Services, tenant_id: str, name: str) -> str:
    with transaction(services.db) as db:
        return d.create_group(db, tenant_id, services.clock.now(), display_name=name).id


def _add(services: Services, tenant_id: str, group_id: str, member_id: str) -> None:
    with transaction(services.db) as db:
        d.add_member(db, tenant_id, group_id, member_id)


def test_transitive_membership_follows_three_levels_of_nesting(services: Services, tenant_id: str) -> None:
    alice = _user(services, tenant_id, "alice@example.com")
    team, department, division, company = (
        _group(services, tenant_id, name) for name in ("Team", "Department", "Division", "Company")
    )
    _add(services, tenant_id, team, alice)
    _add(services, tenant_id, department, team)
    _add(services, tenant_id, division, department)
    _add(services, tenant_id, company, division)
    with services.db() as db:
        assert d.member_of_transitive(db, tenant_id, alice) == {team, department, division, company}
        assert d.member_of_transitive(db, tenant_id, department) == {division, company}
        direct = d.list_member_of(db, tenant_id, alice, transitive=False)
        assert [g.id for g in direct.items] == [team]
        inside = d.list_transitive_members(db, tenant_id, company)
        assert {m.id for m in inside.items} == {division, department, team, alice}


def test_diamond_membership_lists_each_member_once(services: Services, tenant_id: str) -> None:
    bob = _user(services, tenant_id, "bob@example.com")
    left, right, top = (_group(services, tenant_id, n) for n in ("Left", "Right", "Top"))
    for group in (left, right):
        _add(services, tenant_id, group, bob)
        _add(services, tenant_id, top, group)
    with services.db() as db:
        members = d.list_transitive_members(db, tenant_id, top).items
        assert sorted(m.id for m in members) == sorted([left, right, bob])
        assert d.member_of_transitive(db, tenant_id, bob) == {left, right, top}


def test_adding_a_group_into_its_own_descendant_is_refused(services: Services, tenant_id: str) -> None:
    a, b, c = (_group(services, tenant_id, n) for n in ("A", "B", "C"))
    _add(services, tenant_id, a, b)
    _add(services, tenant_id, b, c)
    with pytest.raises(ValidationFailed, match="cycle"):
        _add(services, tenant_id, c, a)
    with pytest.raises(ValidationFailed, match="itself"):
        _add(services, tenant_id, a, a)
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(GroupMember)) == 2


def test_adding_an_existing_member_again_is_refused_with_graphs_message(services: Services, tenant_id: str) -> None:
    user = _user(services, tenant_id, "carol@example.com")
    group = _group(services, tenant_id, "Sales")
    _add(services, tenant_id, group, user)
    with pytest.raises(ValidationFailed) as raised:
        _add(services, tenant_id, group, user)
    assert raised.value.message == d.MEMBER_EXISTS


def test_role_ids_of_includes_roles_held_through_nested_groups(services: Services, tenant_id: str) -> None:
    dave = _user(services, tenant_id, "dave@example.com")
    admins, it = _group(services, tenant_id, "Admins"), _group(services, tenant_id, "IT")
    _add(services, tenant_id, admins, dave)
    _add(services, tenant_id, it, admins)
    now = services.clock.now()
    with transaction(services.db) as db:
        d.create_role_assignment(db, tenant_id, now, principal_id=it, role_definition_id=GLOBAL_ADMINISTRATOR)
        d.create_role_assignment(db, tenant_id, now, principal_id=dave, role_definition_id=GLOBAL_READER)
        # Upper-case ids are accepted and stored in canonical lower case.
        d.create_role_assignment(db, tenant_id, now, principal_id=admins, role_definition_id=USER_ADMINISTRATOR.upper())
    with services.db() as db:
        assert d.role_ids_of(db, tenant_id, dave) == {GLOBAL_ADMINISTRATOR, GLOBAL_READER, USER_ADMINISTRATOR}
    with transaction(services.db) as db:
        d.remove_member(db, tenant_id, it, admins)
    with services.db() as db:
        assert d.role_ids_of(db, tenant_id, dave) == {GLOBAL_READER, USER_ADMINISTRATOR}


def test_role_assignment_rejects_unknown_roles_other_scopes_missing_principals_and_duplicates(
    services: Services, tenant_id: str
) -> None:
    erin = _user(services, tenant_id, "erin@example.com")
    now = services.clock.now()
    with transaction(services.db) as db:
        d.create_role_assignment(db, tenant_id, now, principal_id=erin, role_definition_id=GLOBAL_READER)
    cases = [
        ({"principal_id": erin, "role_definition_id": "00000000-0000-0000-0000-000000000000"}, "not a built-in"),
        (
            {"principal_id": erin, "role_definition_id": GLOBAL_READER, "directory_scope_id": "/administrativeUnits/x"},
            "'/'",
        ),
        (
            {"principal_id": "0f1e2d3c-0000-0000-0000-000000000000", "role_definition_id": GLOBAL_READER},
            "not a user or group",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValidationFailed, match=message), transaction(services.db) as db:
            d.create_role_assignment(db, tenant_id, now, **kwargs)
    with pytest.raises(Conflict), transaction(services.db) as db:
        d.create_role_assignment(db, tenant_id, now, principal_id=erin, role_definition_id=GLOBAL_READER)


def test_upn_is_unique_per_tenant_case_insensitively(services: Services, tenant_id: str) -> None:
    _user(services, tenant_id, "Frank@Example.com")
    with pytest.raises(Conflict, match="userPrincipalName"):
        _user(services, tenant_id, "frank@example.COM")
    with services.db() as db:
        found = d.find_by_upn(db, tenant_id, "FRANK@example.com")
        assert found is not None and found.user_principal_name == "Frank@Example.com"


def test_update_user_validates_everything_before_changing_anything(services: Services, tenant_id: str) -> None:
    grace = _user(services, tenant_id, "grace@example.com")
    _user(services, tenant_id, "taken@example.com")
    for values in (
        {"displayName": "New", "userPrincipalName": "taken@EXAMPLE.com"},
        {"displayName": "New", "userPrincipalName": "not a upn"},
        {"displayName": "New", "accountEnabled": "yes"},
        {"displayName": "", "mail": "g@example.com"},
    ):
        with pytest.raises((ValidationFailed, Conflict)), transaction(services.db) as db:
            d.update_user(db, tenant_id, grace, d.UserChanges(values), services.clock.now())
    with services.db() as db:
        user = d.get_user(db, tenant_id, grace)
        assert (user.display_name, user.user_principal_name, user.mail) == ("grace", "grace@example.com", None)


def test_password_change_stores_an_argon2id_hash_and_stamps_the_time(services: Services, tenant_id: str) -> None:
    heidi = _user(services, tenant_id, "heidi@example.com")
    with transaction(services.db) as db:
        d.set_password(db, tenant_id, heidi, "correct horse battery", services.clock.now(), services.hasher)
    with services.db() as db:
        user = d.get_user(db, tenant_id, heidi)
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert services.hasher.verify(user.password_hash, "correct horse battery").ok
        assert user.password_changed_at == services.clock.now()
    with pytest.raises(ValidationFailed, match="8 to 256"), transaction(services.db) as db:
        d.set_password(db, tenant_id, heidi, "short", services.clock.now(), services.hasher)


def test_deleting_a_user_removes_memberships_and_role_assignments(services: Services, tenant_id: str) -> None:
    ivan = _user(services, tenant_id, "ivan@example.com")
    group = _group(services, tenant_id, "Ops")
    _add(services, tenant_id, group, ivan)
    with transaction(services.db) as db:
        d.create_role_assignment(
            db, tenant_id, services.clock.now(), principal_id=ivan, role_definition_id=GLOBAL_READER
        )
        d.delete_user(db, tenant_id, "IVAN@example.com")
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(GroupMember)) == 0
        assert db.scalar(sa.select(sa.func.count()).select_from(RoleAssignment)) == 0
        with pytest.raises(NotFound):
            d.get_user(db, tenant_id, ivan)


def test_deleting_a_group_removes_its_edges_both_ways_and_its_roles(services: Services, tenant_id: str) -> None:
    judy = _user(services, tenant_id, "judy@example.com")
    inner, middle, outer = (_group(services, tenant_id, n) for n in ("Inner", "Middle", "Outer"))
    _add(services, tenant_id, inner, judy)
    _add(services, tenant_id, middle, inner)
    _add(services, tenant_id, outer, middle)
    with transaction(services.db) as db:
        d.create_role_assignment(
            db, tenant_id, services.clock.now(), principal_id=middle, role_definition_id=GLOBAL_READER
        )
        d.delete_group(db, tenant_id, middle)
    with services.db() as db:
        assert d.member_of_transitive(db, tenant_id, judy) == {inner}
        assert d.role_ids_of(db, tenant_id, judy) == set()


def test_user_listing_pages_by_upn_without_repeats_or_gaps(services: Services, tenant_id: str) -> None:
    for i in range(7):
        _user(services, tenant_id, f"user{i}@example.com")
    seen: list[str] = []
    token = None
    with services.db() as db:
        while True:
            page = d.list_users(db, tenant_id, top=3, skiptoken=token)
            seen += [u.user_principal_name for u in page.items]
            token = page.next_skiptoken
            if token is None:
                break
    assert seen == [f"user{i}@example.com" for i in range(7)]


def test_group_listing_pages_through_groups_with_equal_names(services: Services, tenant_id: str) -> None:
    ids = {_group(services, tenant_id, "Same") for _ in range(5)}
    seen: list[str] = []
    token = None
    with services.db() as db:
        while True:
            page = d.list_groups(db, tenant_id, top=2, skiptoken=token)
            seen += [g.id for g in page.items]
            if (token := page.next_skiptoken) is None:
                break
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_a_forged_skiptoken_is_a_validation_error(services: Services, tenant_id: str) -> None:
    with services.db() as db, pytest.raises(ValidationFailed, match="skiptoken"):
        d.list_users(db, tenant_id, skiptoken="not-a-token")


def test_users_of_one_tenant_are_invisible_to_another(services: Services, tenant_id: str) -> None:
    from limen.domain.ids import new_id
    from limen.store.models import Tenant

    other = new_id()
    with transaction(services.db) as db:
        db.add(
            Tenant(
                id=other, display_name="Other", default_domain="other.test", plan="p2", created_at=services.clock.now()
            )
        )
    mine = _user(services, tenant_id, "kim@example.com")
    with services.db() as db:
        with pytest.raises(NotFound):
            d.get_user(db, other, mine)
        assert d.find_by_upn(db, other, "kim@example.com") is None
        assert db.scalar(sa.select(sa.func.count()).select_from(User).where(User.tenant_id == other)) == 0
