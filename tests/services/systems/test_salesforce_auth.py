"""Building the Salesforce connector from settings: each login method, and what is missing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.errors import SettingsError, Unavailable
from services.settings import load_settings
from services.systems.registry import BuildEnv, build_connector
from services.systems.salesforce import SalesforceConnector, build

INSTANCE = "https://acme.my.salesforce.com"
LIMITS = re.compile(re.escape(INSTANCE) + r"/services/data/v61\.0/limits/?$")
SECRET = "s3cr3t-value-never-shown"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def live(**settings: object) -> SalesforceConnector:
    built = build(load_settings(systems="live", **settings), BuildEnv(sleep=lambda s: None))
    assert isinstance(built, SalesforceConnector)
    return built


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"salesforce_auth": "session", "salesforce_instance_url": INSTANCE},
         "Q2C_SALESFORCE_SESSION_ID"),
        ({"salesforce_auth": "session", "salesforce_session_id": SECRET},
         "Q2C_SALESFORCE_INSTANCE_URL"),
        ({"salesforce_auth": "password", "salesforce_username": "ops@acme.example",
          "salesforce_password": SECRET}, "Q2C_SALESFORCE_SECURITY_TOKEN"),
        ({"salesforce_auth": "password", "salesforce_security_token": SECRET},
         "Q2C_SALESFORCE_USERNAME"),
        ({"salesforce_auth": "password", "salesforce_username": "ops@acme.example",
          "salesforce_security_token": SECRET}, "Q2C_SALESFORCE_PASSWORD"),
        ({"salesforce_auth": "jwt", "salesforce_username": "ops@acme.example"},
         "Q2C_SALESFORCE_CONSUMER_KEY"),
        ({"salesforce_auth": "jwt", "salesforce_username": "ops@acme.example",
          "salesforce_consumer_key": "3MVG9abc"}, "Q2C_SALESFORCE_PRIVATE_KEY_FILE"),
        ({"salesforce_auth": "jwt", "salesforce_username": "ops@acme.example",
          "salesforce_consumer_key": "3MVG9abc", "salesforce_private_key_file": "/nope/key.pem"},
         "Q2C_SALESFORCE_PRIVATE_KEY_FILE"),
        ({"salesforce_auth": "client_credentials", "salesforce_consumer_secret": SECRET},
         "Q2C_SALESFORCE_CONSUMER_KEY"),
        ({"salesforce_auth": "client_credentials", "salesforce_consumer_key": "3MVG9abc",
          "salesforce_domain": "acme.my"}, "Q2C_SALESFORCE_CONSUMER_SECRET"),
        ({"salesforce_auth": "client_credentials", "salesforce_consumer_key": "3MVG9abc",
          "salesforce_consumer_secret": SECRET}, "Q2C_SALESFORCE_DOMAIN"),
        ({"salesforce_auth": "session", "salesforce_instance_url": INSTANCE,
          "salesforce_session_id": SECRET, "salesforce_status_field": "Status; DROP"},
         "Q2C_SALESFORCE_STATUS_FIELD"),
        ({"salesforce_auth": "session", "salesforce_instance_url": INSTANCE,
          "salesforce_session_id": SECRET, "salesforce_api_version": "v61.0"},
         "Q2C_SALESFORCE_API_VERSION"),
        ({"salesforce_auth": "session", "salesforce_instance_url": "acme.my.salesforce.com",
          "salesforce_session_id": SECRET}, "Q2C_SALESFORCE_INSTANCE_URL"),
    ],
)  # fmt: skip
def test_a_missing_setting_is_named_and_no_secret_is_shown(settings, missing) -> None:
    with pytest.raises(SettingsError) as caught:
        live(**settings)
    assert missing in str(caught.value) and SECRET not in str(caught.value)


def test_the_registry_builds_it_and_live_mode_without_settings_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="Q2C_SALESFORCE_INSTANCE_URL"):
        build_connector("salesforce", load_settings(systems="live"), BuildEnv())


def test_sandbox_mode_without_a_sandbox_says_how_to_get_one() -> None:
    with pytest.raises(SettingsError, match="Q2C_SANDBOX_URL"):
        build(load_settings(), BuildEnv())


def test_session_method_calls_the_instance_with_a_timeout(rsps) -> None:
    rsps.add(responses.GET, LIMITS, json={"DailyApiRequests": {"Max": 15000, "Remaining": 1}})
    sf = live(salesforce_auth="session", salesforce_instance_url=INSTANCE,
              salesforce_session_id=SECRET, http_timeout_seconds=7)  # fmt: skip
    sf.ping()
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert rsps.calls[0].request.req_kwargs["timeout"] == 7
    assert sf.base_url == INSTANCE and SECRET not in sf.describe_auth()


def test_describe_auth_masks_the_identity_for_each_method(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not read until login")
    shown = [
        live(salesforce_auth="password", salesforce_username="integration@acme.example",
             salesforce_password=SECRET, salesforce_security_token=SECRET).describe_auth(),
        live(salesforce_auth="jwt", salesforce_username="integration@acme.example",
             salesforce_consumer_key="3MVG9consumerkey", salesforce_private_key_file=key)
        .describe_auth(),
        live(salesforce_auth="client_credentials", salesforce_consumer_key="3MVG9consumerkey",
             salesforce_consumer_secret=SECRET, salesforce_domain="acme.my").describe_auth(),
    ]  # fmt: skip
    assert shown[0].startswith("username-password as inte…mple")
    assert shown[1].startswith("JWT bearer as inte…mple, consumer key 3MVG…rkey")
    assert shown[2].startswith("OAuth2 client credentials, consumer key 3MVG…rkey at acme.my")
    assert all(SECRET not in s and "integration@acme.example" not in s for s in shown)


def token_answer() -> dict[str, str]:
    return {"access_token": "00D!token", "instance_url": INSTANCE, "token_type": "Bearer"}


def test_client_credentials_log_in_at_the_my_domain(rsps) -> None:
    token = rsps.add(responses.POST, "https://acme.my.salesforce.com/services/oauth2/token",
                     json=token_answer())  # fmt: skip
    rsps.add(responses.GET, LIMITS, json={})
    sf = live(salesforce_auth="client_credentials", salesforce_consumer_key="3MVG9abc",
              salesforce_consumer_secret=SECRET, salesforce_domain="acme.my")  # fmt: skip
    sf.ping()
    assert token.call_count == 1
    assert parse_qs(rsps.calls[0].request.body)["grant_type"] == ["client_credentials"]
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer 00D!token"


def test_jwt_bearer_signs_an_assertion_with_the_private_key(rsps, tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "server.key"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    rsps.add(responses.POST, "https://login.salesforce.com/services/oauth2/token",
             json=token_answer())  # fmt: skip
    rsps.add(responses.GET, LIMITS, json={})
    sf = live(salesforce_auth="jwt", salesforce_username="ops@acme.example",
              salesforce_consumer_key="3MVG9abc", salesforce_private_key_file=key)  # fmt: skip
    sf.ping()
    form = parse_qs(rsps.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["assertion"][0].count(".") == 2
    assert sf.base_url == INSTANCE


def test_a_token_endpoint_that_cannot_be_reached_is_unavailable(rsps) -> None:
    import requests

    rsps.add(responses.POST, re.compile(r"https://acme\.my\.salesforce\.com/.*"),
             body=requests.ConnectionError("Name or service not known"))  # fmt: skip
    sf = live(salesforce_auth="client_credentials", salesforce_consumer_key="3MVG9abc",
              salesforce_consumer_secret=SECRET, salesforce_domain="acme.my", retry_attempts=2)  # fmt: skip
    with pytest.raises(Unavailable) as caught:
        sf.ping()
    assert caught.value.operation == "ping" and SECRET not in json.dumps(caught.value.to_dict())
