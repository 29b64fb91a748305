"""The directory's use cases in one place: users, groups with nested membership, role assignments.

The code lives in directory_users, directory_groups, directory_roles and directory_import (each small
enough to read in one sitting); callers import from here.
"""

from __future__ import annotations

from limen.service.directory_groups import (
    MEMBER_EXISTS,
    DirectoryObject,
    add_member,
    create_group,
    delete_group,
    derive_mail_nickname,
    get_directory_object,
    get_group,
    groups_named,
    list_groups,
    list_member_of,
    list_members,
    list_transitive_members,
    member_counts,
    member_of_transitive,
    remove_member,
    update_group,
)
from limen.service.directory_roles import (
    TENANT_SCOPE,
    create_role_assignment,
    delete_role_assignment,
    get_role_assignment,
    list_role_assignments,
    role_ids_of,
)
from limen.service.directory_users import (
    UPN_TAKEN,
    UserChanges,
    create_user,
    delete_user,
    find_by_upn,
    get_user,
    get_user_by_key,
    list_users,
    revoke_sign_in_sessions,
    set_account_enabled,
    set_password,
    update_user,
)

__all__ = [
    "MEMBER_EXISTS",
    "TENANT_SCOPE",
    "UPN_TAKEN",
    "DirectoryObject",
    "UserChanges",
    "add_member",
    "create_group",
    "create_role_assignment",
    "create_user",
    "delete_group",
    "delete_role_assignment",
    "delete_user",
    "derive_mail_nickname",
    "find_by_upn",
    "get_directory_object",
    "get_group",
    "get_role_assignment",
    "get_user",
    "get_user_by_key",
    "groups_named",
    "list_groups",
    "list_member_of",
    "list_members",
    "list_role_assignments",
    "list_transitive_members",
    "list_users",
    "member_counts",
    "member_of_transitive",
    "remove_member",
    "revoke_sign_in_sessions",
    "role_ids_of",
    "set_account_enabled",
    "set_password",
    "update_group",
    "update_user",
]
