"""HTTP exposure rules: loopback by default, a bearer token on every request when set (mandatory beyond
loopback), and the SDK's DNS-rebinding protection with the hosts the operator names. Light imports only, so the
command line can refuse a dangerous bind before it loads a model.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from taskvec.config import Settings
from taskvec.errors import InvalidInputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin checks: loopback names, the bound address, and TASKVEC_ALLOWED_HOSTS."""
    hosts = ["127.0.0.1", "localhost", "[::1]", settings.host, *settings.allowed_hosts]
    patterns = [h if _has_port(h) else f"{h}:*" for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=patterns,
        allowed_origins=[f"{scheme}://{p}" for p in patterns for scheme in ("http", "https")],
    )


def _has_port(host: str) -> bool:
    head, _, port = host.rpartition(":")
    return bool(head) and port.isdigit() and not host.endswith("]")


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a token (checked before the model loads, so it fails fast)."""
    if settings.host not in LOOPBACK and not settings.token:
        raise InvalidInputError(
            f"Refusing to bind {settings.host!r} without a token: anyone who can reach it could read and delete "
            "your collections.",
            field="host",
            fix="Set TASKVEC_TOKEN to a long random secret, or bind 127.0.0.1.",
        )


HEADER_FIX = (
    "Send the header 'Authorization: Bearer <TASKVEC_TOKEN>' on every request: taskvec's token is a static "
    "bearer token, not OAuth (README, 'Use it from an agent', shows the setting for each client)."
)
_OAUTH_DISCOVERY = "/.well-known/oauth-"  # oauth-protected-resource, oauth-authorization-server


class BearerTokenMiddleware:
    """Reject HTTP requests without ``Authorization: Bearer <token>`` (constant-time comparison).

    A client that gets a 401 looks for OAuth metadata next. taskvec offers no OAuth, so those well-known paths
    answer 404 (no token needed: they hold nothing) with the header to send instead, rather than another 401 that
    would send the client on through more guesses.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith(_OAUTH_DISCOVERY):
                await _answer(
                    send, 404, {"error": "not_found", "detail": "taskvec offers no OAuth.", "fix": HEADER_FIX}
                )
                return
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _answer(send, 401, {"error": "unauthorized", "fix": HEADER_FIX})
                return
        await self.app(scope, receive, send)


async def _answer(send: Any, status: int, body: dict[str, str]) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="taskvec"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
