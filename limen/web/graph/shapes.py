"""Graph v1.0 JSON shapes of directory objects, role definitions and applications.

Plain functions of the stored rows (no FastAPI), so the CLI's --json output matches the API exactly.
"""

from __future__ import annotations

from typing import Any

from limen.domain.directory import DirectoryRole
from limen.domain.timestamps import graph_time
from limen.store.models import Application, ApplicationPassword, Group, RoleAssignment, User

USER_TYPE = "microsoft.graph.user"
GROUP_TYPE = "microsoft.graph.group"

#: Property names `$select` accepts, per type (the keys of the shapes below).
USER_PROPERTIES = frozenset(
    [
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "mobilePhone",
        "accountEnabled",
        "userType",
        "createdDateTime",
        "signInActivity",
    ]
)
GROUP_PROPERTIES = frozenset(
    [
        "id",
        "displayName",
        "description",
        "mailNickname",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "createdDateTime",
    ]
)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "surname": user.surname,
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "accountEnabled": user.account_enabled,
        "userType": user.user_type,
        "createdDateTime": graph_time(user.created_at),
        "signInActivity": {"lastSignInDateTime": graph_time(user.last_sign_in_at)},
    }


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "description": group.description,
        "mailNickname": group.mail_nickname,
        "mailEnabled": group.mail_enabled,
        "securityEnabled": group.security_enabled,
        "groupTypes": [],
        "createdDateTime": graph_time(group.created_at),
    }


def directory_object_json(obj: User | Group) -> dict[str, Any]:
    """A member or memberOf entry: the object's JSON with its `@odata.type`, as Graph lists them."""
    if isinstance(obj, User):
        return {"@odata.type": f"#{USER_TYPE}", **user_json(obj)}
    return {"@odata.type": f"#{GROUP_TYPE}", **group_json(obj)}


def role_assignment_json(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "principalId": assignment.principal_id,
        "roleDefinitionId": assignment.role_definition_id,
        "directoryScopeId": assignment.directory_scope_id,
        "appScopeId": None,
    }


def role_definition_json(role: DirectoryRole) -> dict[str, Any]:
    return {
        "id": role.id,
        "displayName": role.display_name,
        "description": role.description,
        "isBuiltIn": True,
        "isEnabled": True,
        "isPrivileged": role.is_privileged,
        "templateId": role.id,
        "resourceScopes": ["/"],
        "rolePermissions": [],
    }


def password_credential_json(credential: ApplicationPassword, secret_text: str | None = None) -> dict[str, Any]:
    """A passwordCredential; `secretText` appears only in addPassword's answer, the one time it exists."""
    shape: dict[str, Any] = {
        "customKeyIdentifier": None,
        "displayName": credential.display_name,
        "endDateTime": graph_time(credential.end_at),
        "hint": credential.hint,
        "keyId": credential.id,
        "startDateTime": graph_time(credential.start_at),
    }
    if secret_text is not None:
        shape["secretText"] = secret_text
    return shape


def application_json(app: Application, passwords: list[ApplicationPassword]) -> dict[str, Any]:
    return {
        "id": app.id,
        "appId": app.app_id,
        "displayName": app.display_name,
        "createdDateTime": graph_time(app.created_at),
        "signInAudience": "AzureADMyOrg",
        "isFallbackPublicClient": app.is_public_client,
        "web": {"redirectUris": list(app.web_redirect_uris), "logoutUrl": app.logout_url},
        "publicClient": {"redirectUris": list(app.public_client_redirect_uris)},
        "passwordCredentials": [password_credential_json(p) for p in passwords],
    }
