"""How the Salesforce connector logs in: a session id, username-password, JWT bearer
or OAuth2 client credentials (``Q2C_SALESFORCE_AUTH``).

Each method logs in through simple-salesforce's own ``SalesforceLogin`` on the
connector's ``requests.Session`` and answers ``(session id, instance URL)``. Secrets
stay ``SecretStr`` until that call; :meth:`SalesforceCredentials.secrets` lists them
so the connector can redact them, and ``describe()`` shows the method and a masked
identity, never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import requests
from pydantic import SecretStr
from simple_salesforce.login import SalesforceLogin

from services.errors import SettingsError
from services.settings import Settings
from services.systems.auth import mask
from services.systems.registry import require

__all__ = [
    "ClientCredentials",
    "JwtBearer",
    "SalesforceCredentials",
    "SessionId",
    "UsernamePassword",
    "credentials_from_settings",
]


class SalesforceCredentials(Protocol):
    """What the connector needs from a login method."""

    @property
    def method(self) -> str: ...

    @property
    def can_refresh(self) -> bool: ...

    @property
    def instance_hint(self) -> str: ...

    def login(self, session: requests.Session, api_version: str) -> tuple[str, str]:
        """Log in; ``(session id, instance URL)``. Raises simple-salesforce's errors."""
        ...

    def secrets(self) -> list[str]: ...

    def describe(self) -> str: ...


def _instance_url(sf_instance: str) -> str:
    """``https://host`` from what ``SalesforceLogin`` answers (a host name)."""
    return sf_instance if "://" in sf_instance else f"https://{sf_instance}"


@dataclass(frozen=True, slots=True)
class SessionId:
    """A session id (access token) obtained elsewhere; it cannot be renewed here."""

    instance_url: str
    session_id: SecretStr
    setting: str = "Q2C_SALESFORCE_SESSION_ID"
    method: ClassVar[str] = "session"
    can_refresh: ClassVar[bool] = False

    @property
    def instance_hint(self) -> str:
        return self.instance_url.rstrip("/")

    def login(self, session: requests.Session, api_version: str) -> tuple[str, str]:
        return self.session_id.get_secret_value(), self.instance_url

    def secrets(self) -> list[str]:
        return [self.session_id.get_secret_value()]

    def describe(self) -> str:
        return f"session id for {self.instance_hint} (from {self.setting}: ***)"


@dataclass(frozen=True, slots=True)
class UsernamePassword:
    """Username, password and security token (SOAP ``login()``)."""

    username: str
    password: SecretStr
    security_token: SecretStr
    domain: str = "login"
    method: ClassVar[str] = "password"
    can_refresh: ClassVar[bool] = True

    @property
    def instance_hint(self) -> str:
        return f"https://{self.domain}.salesforce.com"

    def login(self, session: requests.Session, api_version: str) -> tuple[str, str]:
        session_id, instance = SalesforceLogin(
            username=self.username,
            password=self.password.get_secret_value(),
            security_token=self.security_token.get_secret_value(),
            domain=self.domain,
            sf_version=api_version,
            session=session,
        )
        return session_id, _instance_url(instance)

    def secrets(self) -> list[str]:
        return [self.password.get_secret_value(), self.security_token.get_secret_value()]

    def describe(self) -> str:
        return (
            f"username-password as {mask(self.username)} at {self.domain}.salesforce.com "
            "(password and security token: ***)"
        )


@dataclass(frozen=True, slots=True)
class JwtBearer:
    """OAuth2 JWT bearer flow: a connected app's consumer key and the user's private key."""

    username: str
    consumer_key: str
    private_key_file: Path
    domain: str = "login"
    method: ClassVar[str] = "jwt"
    can_refresh: ClassVar[bool] = True

    @property
    def instance_hint(self) -> str:
        return f"https://{self.domain}.salesforce.com"

    def login(self, session: requests.Session, api_version: str) -> tuple[str, str]:
        session_id, instance = SalesforceLogin(
            username=self.username,
            consumer_key=self.consumer_key,
            privatekey_file=str(self.private_key_file),
            domain=self.domain,
            session=session,
        )
        return session_id, _instance_url(instance)

    def secrets(self) -> list[str]:
        return []  # the private key never leaves the file; the token is added by the connector

    def describe(self) -> str:
        return (
            f"JWT bearer as {mask(self.username)}, consumer key {mask(self.consumer_key)} "
            f"at {self.domain}.salesforce.com (private key file: ***)"
        )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """OAuth2 client-credentials flow against the org's My Domain."""

    consumer_key: str
    consumer_secret: SecretStr
    domain: str
    method: ClassVar[str] = "client_credentials"
    can_refresh: ClassVar[bool] = True

    @property
    def instance_hint(self) -> str:
        return f"https://{self.domain}.salesforce.com"

    def login(self, session: requests.Session, api_version: str) -> tuple[str, str]:
        session_id, instance = SalesforceLogin(
            consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret.get_secret_value(),
            domain=self.domain,
            session=session,
        )
        return session_id, _instance_url(instance)

    def secrets(self) -> list[str]:
        return [self.consumer_secret.get_secret_value()]

    def describe(self) -> str:
        return (
            f"OAuth2 client credentials, consumer key {mask(self.consumer_key)} "
            f"at {self.domain}.salesforce.com (secret: ***)"
        )


def credentials_from_settings(settings: Settings) -> SalesforceCredentials:
    """The login method ``Q2C_SALESFORCE_AUTH`` names, with its settings checked.

    Args:
        settings: the console's settings (``salesforce_*`` fields).

    Returns:
        The credentials; nothing is sent until the connector's first call.

    Raises:
        SettingsError: a setting the method needs is missing; the message names the
            variable (``Q2C_SALESFORCE_PASSWORD``), never a value.

    Example:
        >>> credentials_from_settings(load_settings(salesforce_auth="password", ...))
    """
    method = settings.salesforce_auth
    why = f"Q2C_SALESFORCE_AUTH={method} needs it"
    domain = settings.salesforce_domain.strip() or "login"

    def need(name: str) -> Any:
        return require(settings, f"salesforce_{name}", why)

    if method == "session":
        instance_url = str(need("instance_url")).rstrip("/")
        if not instance_url.startswith("https://") or "/" in instance_url[8:]:
            raise SettingsError(
                "Q2C_SALESFORCE_INSTANCE_URL must be the org's https address, "
                "e.g. https://acme.my.salesforce.com"
            )
        return SessionId(instance_url=instance_url, session_id=need("session_id"))
    if method == "password":
        return UsernamePassword(
            username=need("username"),
            password=need("password"),
            security_token=need("security_token"),
            domain=domain,
        )
    if method == "jwt":
        username, consumer_key = need("username"), need("consumer_key")
        key_file = Path(need("private_key_file"))
        if not key_file.is_file():
            raise SettingsError(f"Q2C_SALESFORCE_PRIVATE_KEY_FILE: no file at {key_file}")
        return JwtBearer(username, consumer_key, key_file, domain)
    consumer_key, secret = need("consumer_key"), need("consumer_secret")
    if domain in ("login", "test"):
        raise SettingsError(
            "Q2C_SALESFORCE_DOMAIN must be the org's My Domain (e.g. acme.my) for "
            "Q2C_SALESFORCE_AUTH=client_credentials; login and test cannot issue the token"
        )
    return ClientCredentials(consumer_key, secret, domain)
