"""How HTTP connectors authenticate: OAuth2 client credentials, API keys, basic auth.

Secrets are ``pydantic.SecretStr`` until the moment a header is built, and every
auth lists its secrets (:meth:`Auth.secrets`) so connectors can redact them from
any message. ``describe()`` is what the Connections page shows: the method and a
masked identity, never the secret.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from pydantic import SecretStr

from services.errors import AuthError, BadResponse, Unavailable

__all__ = [
    "ApiKey",
    "Auth",
    "BasicAuth",
    "BearerToken",
    "NoAuth",
    "OAuth2ClientCredentials",
    "mask",
]


def mask(value: str | None) -> str:
    """``abcd…wxyz`` style masking for ids shown on screen; secrets show as ``***``."""
    if not value:
        return "(not set)"
    if len(value) <= 8:
        return value[:2] + "***"
    return f"{value[:4]}…{value[-4:]}"


class Auth(Protocol):
    """What a connector needs from an authentication method."""

    can_refresh: bool

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]: ...

    def invalidate(self) -> None: ...

    def secrets(self) -> list[str]: ...

    def describe(self) -> str: ...


class NoAuth:
    """No credentials (the sandbox)."""

    can_refresh = False

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        """Nothing to forget."""

    def secrets(self) -> list[str]:
        return []

    def describe(self) -> str:
        return "none (sandbox)"


class ApiKey:
    """A static key in a header (e.g. ``apiAccessKeyId``/``apiSecretAccessKey``)."""

    can_refresh = False

    def __init__(self, header: str, key: SecretStr, *, setting: str) -> None:
        self.header, self.key, self.setting = header, key, setting

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]:
        return {self.header: self.key.get_secret_value()}

    def invalidate(self) -> None:
        """A static key cannot be renewed."""

    def secrets(self) -> list[str]:
        return [self.key.get_secret_value()]

    def describe(self) -> str:
        return f"API key in {self.header} (from {self.setting}: ***)"


class BasicAuth:
    """HTTP basic auth (AvaTax: account id + license key)."""

    can_refresh = False

    def __init__(self, username: str, password: SecretStr, *, setting: str) -> None:
        self.username, self.password, self.setting = username, password, setting

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]:
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def invalidate(self) -> None:
        """Basic credentials cannot be renewed."""

    def secrets(self) -> list[str]:
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return [self.password.get_secret_value(), base64.b64encode(pair).decode()]

    def describe(self) -> str:
        return f"basic, user {mask(self.username)} (password from {self.setting}: ***)"


class BearerToken:
    """A token obtained elsewhere (e.g. a session id)."""

    can_refresh = False

    def __init__(self, token: SecretStr, *, setting: str) -> None:
        self.token, self.setting = token, setting

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    def invalidate(self) -> None:
        """A fixed token cannot be renewed."""

    def secrets(self) -> list[str]:
        return [self.token.get_secret_value()]

    def describe(self) -> str:
        return f"bearer token (from {self.setting}: ***)"


class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant; the token is cached until shortly before expiry.

    Args:
        token_url: absolute URL of the token endpoint.
        client_id, client_secret: the client's credentials.
        setting: the settings prefix named in errors (e.g. ``Q2C_ERP_``).
        scope: optional scope.
        clock: monotonic seconds (tests pass a fake).
    """

    can_refresh = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        setting: str,
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.setting, self.scope, self.clock = setting, scope, clock
        self._token: str | None = None
        self._expires = 0.0

    def headers(self, client: httpx.Client, system: str) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires:
            self._fetch(client, system)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None

    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret.get_secret_value(), self._token) if s]

    def describe(self) -> str:
        return f"OAuth2 client credentials, client {mask(self.client_id)} (secret: ***)"

    def _fetch(self, client: httpx.Client, system: str) -> None:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.scope:
            data["scope"] = self.scope
        try:
            response = client.post(self.token_url, data=data)
        except httpx.TransportError as exc:
            raise Unavailable(
                system=system,
                operation="authenticate",
                message=f"cannot reach the token endpoint ({type(exc).__name__})",
                retryable=True,
            ) from None
        if response.status_code in (400, 401, 403):
            raise AuthError(
                system=system,
                operation="authenticate",
                code=_oauth_code(response),
                message=(
                    f"the token endpoint refused the client credentials; check "
                    f"{self.setting}CLIENT_ID and {self.setting}CLIENT_SECRET"
                ),
                http_status=response.status_code,
            )
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise BadResponse(
                system=system,
                operation="authenticate",
                message="the token endpoint did not answer with an access_token",
                http_status=response.status_code,
            ) from None
        self._token = str(token)
        lifetime = float(body.get("expires_in") or 3600)
        self._expires = self.clock() + max(0.0, lifetime - 60)


def _oauth_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(code) if code else None
