"""OpenID Connect provider: discovery, JWKS, authorization code + PKCE, refresh rotation, client
credentials, userinfo and RP-initiated logout. JOSE comes from joserfc; nothing is hand-signed.
"""
