"""The password: the first factor everyone has. Checked by the sign-in's password step (argon2id in
limen.crypto), not through the method operations; described here so that strengths, `amr` and the
sign-in log treat it like every other method."""

from __future__ import annotations

from limen.domain.methods.base import Factor, MethodSpec

SPEC = MethodSpec(
    key="password",
    graph_type="#microsoft.graph.passwordAuthenticationMethod",
    display_name="Password",
    log_name="Password",
    factor=Factor.KNOWLEDGE,
    phishing_resistant=False,
    amr=("pwd",),
    strengths=frozenset(),
    mode="password",
    first_factor=True,
    second_factor=False,
    self_service=False,
)
