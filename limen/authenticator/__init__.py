"""`limen-authenticator`: a command-line authenticator app for Limen (push with number matching, TOTP).

It speaks the device API in docs/authenticator.md, signs answers with the same
`limen.domain.methods.push.signed_message` the server verifies, and keeps its accounts in a
state file readable only by its owner.
"""
