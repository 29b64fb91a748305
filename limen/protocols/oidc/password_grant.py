"""The resource owner password credentials grant (ROPC, RFC 6749 §4.3). Off unless the operator sets
LIMEN_ALLOW_PASSWORD_GRANT=true.

The client collects the person's username and password itself and posts them to the token endpoint.
Nothing can be asked of the person: no MFA, no registration, no password change. So a sign-in that
needs any of them fails: the grant only works for sign-ins that a password alone may complete, which
is why it is discouraged (OAuth 2.0 Security BCP §2.4 forbids it) and off by default. The device code
flow is the replacement for tools without a browser.

Every attempt is a non-interactive sign-in in the log, classified `mobileAppsAndDesktopClients` as
Entra classifies ROPC. Any failure is `invalid_grant` (or `interaction_required` when MFA or
registration would have been asked) and says nothing about whether the account exists.
"""

from __future__ import annotations

from typing import Any

from limen.domain.access.decision import ClientAppType
from limen.domain.ids import new_id
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import FAILURE_REASONS, AuthenticationDetail, SignInError
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.scopes import checked_scope
from limen.protocols.oidc.tokens import Grant, token_response
from limen.service.access import assess_credentials, log_credentials_sign_in
from limen.service.context import Services
from limen.service.directory_users import find_by_upn
from limen.service.signin import PASSWORD_METHOD, RequestMeta
from limen.store.db import transaction
from limen.store.models import Application, User

PASSWORD_GRANT = "password"  # noqa: S105 - the grant type's name, not a secret
CLIENT_APP_TYPE = ClientAppType.MOBILE_APPS_AND_DESKTOP_CLIENTS

_FIRST_FACTOR_FAILURES = (
    SignInError.USER_ACCOUNT_NOT_FOUND,
    SignInError.INVALID_USERNAME_OR_PASSWORD,
    SignInError.USER_DISABLED,
)
#: The person could pass these interactively; the client should send them to the authorization endpoint.
_NEEDS_INTERACTION = (
    SignInError.STRONG_AUTH_REQUIRED,
    SignInError.STRONG_AUTH_ENROLLMENT_REQUIRED,
    SignInError.BAD_TOKEN_DUE_TO_SIGN_IN_FREQUENCY,
)


def password_grant(
    services: Services, tenant_id: str, app: Application, form: dict[str, str], meta: RequestMeta
) -> dict[str, Any]:
    """Check the credentials, decide, log, and answer with tokens or raise OAuthError.

    Runs argon2: call it in a worker thread. `app` is the authenticated client.
    """
    if not services.settings.allow_password_grant:
        raise OAuthError("unsupported_grant_type", "The password grant is not enabled on this server.")
    username = form.get("username") or ""
    password = form.get("password") or ""
    if not username or not password:
        raise OAuthError("invalid_request", "The password grant needs 'username' and 'password'.")
    username, password = username[:256], password[:1024]
    scope = checked_scope(form.get("scope", ""))

    with services.db() as db:
        found = find_by_upn(db, tenant_id, username)
        user_id, stored_hash = (found.id, found.password_hash) if found else (None, None)
    # argon2 runs outside any transaction, and costs the same for an unknown user (no enumeration by time).
    verification = services.hasher.verify(stored_hash, password)
    now = services.clock.now()

    with transaction(services.db) as db:
        user = db.get(User, user_id) if user_id else None
        completed: tuple[CompletedMethod, ...] = ()
        decision = None
        if user is None:
            error = SignInError.USER_ACCOUNT_NOT_FOUND
        elif not verification.ok:
            error = SignInError.INVALID_USERNAME_OR_PASSWORD
        elif not user.account_enabled:
            error = SignInError.USER_DISABLED
        else:
            completed = (CompletedMethod(method=PASSWORD_METHOD, amr="pwd", factor="knowledge", at=now),)
            if verification.new_hash is not None:
                user.password_hash = verification.new_hash  # argon2 parameters changed: rehash on sign-in
            error, decision = assess_credentials(
                db, services, tenant_id, user, app_id=app.app_id, meta=meta, completed=completed
            )
        failed = None
        if error in _FIRST_FACTOR_FAILURES:
            failed = AuthenticationDetail(
                "Password",
                succeeded=error is SignInError.USER_DISABLED,
                step_at=now,
                result_detail="Correct password"
                if error is SignInError.USER_DISABLED
                else "Invalid username or password",
            )
        log_credentials_sign_in(
            db,
            tenant_id,
            user=user,
            username=username,
            app_id=app.app_id,
            app_display_name=app.display_name,
            meta=meta,
            now=now,
            error=error,
            completed=completed,
            failed=failed,
            decision=decision,
        )
        if error is SignInError.SUCCESS:
            assert user is not None
            grant = Grant(
                user=user,
                scope=scope,
                methods=completed,
                nonce=None,
                session_id=None,  # no browser session: the client holds the credentials
                family_id=new_id(),
                client_app_type=CLIENT_APP_TYPE.value,
            )
            return token_response(db, services, tenant_id, app, grant)
    # Raised after the transaction: the log row of a refused attempt must be committed.
    raise refusal(error)


def refusal(error: SignInError) -> OAuthError:
    """The token endpoint's answer to a refused sign-in, with Entra's AADSTS number."""
    if error in _FIRST_FACTOR_FAILURES:
        # One answer for an unknown user, a wrong password and a disabled account: nothing to enumerate.
        error = SignInError.INVALID_USERNAME_OR_PASSWORD
        return OAuthError("invalid_grant", f"AADSTS{int(error)}: {FAILURE_REASONS[error]}", error_codes=(int(error),))
    description = f"AADSTS{int(error)}: {FAILURE_REASONS.get(error, 'The sign-in was refused.')}"
    if error in _NEEDS_INTERACTION:
        description += " Sign in interactively (authorization code or device code flow)."
        return OAuthError("interaction_required", description, error_codes=(int(error),))
    return OAuthError("invalid_grant", description, error_codes=(int(error),))
