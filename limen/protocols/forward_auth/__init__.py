"""Forward-auth for reverse proxies: nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`.

The endpoints are in router.py, the use cases in limen.service.forward_auth, the deployment in
docs/forward-auth.md.
"""
