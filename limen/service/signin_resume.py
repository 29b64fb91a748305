"""Step-up: a signed-in person whose session does not meet an application's requirements adds to it.

When single sign-on finds that the browser session lacks something the sign-in pages can provide
(MFA, a method of the required authentication strength, registering security info), the person is
not asked for their password again, as in Entra: a sign-in flow starts for them with the session's
completed methods, goes straight to the decision, and continues at the step it needs. Completing it
issues a new session with the old and new methods (limen.service.session_reuse decides when).
"""

from __future__ import annotations

from typing import Any

from limen.domain import signin as machine
from limen.service.context import Services
from limen.service.sessions import ActiveSession
from limen.service.signin import Completed, FlowView, RequestMeta, _insert_row, _resolve_stored, new_handle
from limen.service.signin_password import conclude
from limen.service.signin_steps import Step, decide_step, drive, load_account


def start_step_up(
    services: Services,
    tenant_id: str,
    browser_token: str,
    authorize_request: dict[str, Any],
    session: ActiveSession,
    meta: RequestMeta,
) -> tuple[str, FlowView | Completed]:
    """Start a flow for the session's user at the decision; return its id and where it stands
    (a page to show, or, when the session turned out to be enough after all, the completed sign-in)."""
    now = services.clock.now()
    handle = new_handle(services, tenant_id, stored=True)
    user = session.user
    state = machine.SignInState(
        stage=machine.Stage.DECIDE,
        username=user.user_principal_name,
        user_id=user.id,
        completed=session.methods,
    )
    with services.engine.begin() as db:
        _insert_row(db, services, handle, browser_token, state, authorize_request)
        resolved = _resolve_stored(db, services, tenant_id, handle, browser_token)
        assert resolved is not None
        step = Step(db, services, tenant_id, resolved, meta, now, None)
        step.account = load_account(step.orm, tenant_id, user)
        state = drive(step, state, machine.Decided(decide_step(step, state)))
        return handle.flow_id, conclude(step, browser_token, state)
