"""The Salesforce connector's login, re-authentication, retries and error mapping,
against Salesforce faked on the wire (``responses``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import responses
from pydantic import SecretStr

from services.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    ForbiddenError,
    RateLimited,
    RejectedError,
    TimedOut,
    Unavailable,
)
from services.systems.salesforce import SalesforceConnector
from services.systems.salesforce_auth import UsernamePassword
from tests.services.systems.salesforce_fakes import (
    API,
    INSTANCE,
    NOW,
    OPP,
    QUERY,
    SESSION,
    Sleeps,
    connector,
    page,
    patched,
    record,
    sf_errors,
)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sf(sleeps: Sleeps) -> SalesforceConnector:
    return connector(sleeps)


# -- authentication ------------------------------------------------------------------------

SOAP_LOGIN = re.compile(r"https://login\.salesforce\.com/services/Soap/u/61\.0$")
PASSWORD = "hunter2-password"
TOKEN = "SecurityToken123"


def login_xml(session_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
        "<metadataServerUrl>https://acme.my.salesforce.com/services/Soap/m/61.0/00D</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        "<serverUrl>https://acme.my.salesforce.com/services/Soap/u/61.0/00D</serverUrl>"
        f"<sessionId>{session_id}</sessionId><userId>0055g00000AbCdEAAV</userId>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


LOGIN_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
    "password, security token; or user locked out.</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>'
    "<sf:exceptionMessage>Invalid username, password, security token; or user locked out."
    "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>"
    "</soapenv:Envelope>"
)
EXPIRED = sf_errors("INVALID_SESSION_ID", "Session expired or invalid")


@pytest.fixture
def password_sf(sleeps: Sleeps) -> SalesforceConnector:
    creds = UsernamePassword("ops@acme.example", SecretStr(PASSWORD), SecretStr(TOKEN))
    return SalesforceConnector(creds, session=requests.Session(), sleep=sleeps, now=lambda: NOW)


def test_an_expired_session_logs_in_again_once_and_repeats_the_call(
    rsps, password_sf, sleeps
) -> None:
    rsps.add(responses.POST, SOAP_LOGIN, body=login_xml("00D!first"), content_type="text/xml")
    rsps.add(responses.POST, SOAP_LOGIN, body=login_xml("00D!second"), content_type="text/xml")
    rsps.add(responses.GET, QUERY, status=401, json=EXPIRED)
    rsps.add(responses.GET, QUERY, json=page([record("Opportunity", OPP)]))

    assert password_sf.list_closed_won()[0]["Id"] == OPP

    logins = [c for c in rsps.calls if c.request.method == "POST"]
    queries = [c.request.headers["Authorization"] for c in rsps.calls if c.request.method == "GET"]
    assert len(logins) == 2 and queries == ["Bearer 00D!first", "Bearer 00D!second"]
    assert b"ops@acme.example" in logins[0].request.body.encode()
    assert sleeps.waits == [] and password_sf.base_url == INSTANCE
    assert (
        PASSWORD not in password_sf.describe_auth() and "ops@…mple" in password_sf.describe_auth()
    )


def test_a_session_refused_again_after_login_is_an_auth_error(rsps, password_sf) -> None:
    rsps.add(responses.POST, SOAP_LOGIN, body=login_xml("00D!again"), content_type="text/xml")
    rsps.add(responses.GET, QUERY, status=401, json=EXPIRED)
    with pytest.raises(AuthError) as caught:
        password_sf.list_closed_won()
    err = caught.value
    assert (err.http_status, err.code, err.retryable) == (401, "INVALID_SESSION_ID", False)
    assert "after re-authenticating once" in str(err)
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "POST", "GET"]
    for secret in (PASSWORD, TOKEN, "00D!again"):
        assert secret not in str(err) and secret not in (password_sf.stats.last_error or "")


def test_a_fixed_session_cannot_be_renewed_so_401_is_an_auth_error_at_once(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, status=401, json=EXPIRED)
    with pytest.raises(AuthError):
        sf.list_closed_won()
    assert len(rsps.calls) == 1


def test_a_refused_login_is_an_auth_error_without_the_password(rsps, password_sf) -> None:
    rsps.add(responses.POST, SOAP_LOGIN, status=500, body=LOGIN_FAULT, content_type="text/xml")
    with pytest.raises(AuthError) as caught:
        password_sf.ping()
    assert caught.value.code == "INVALID_LOGIN" and "login refused" in str(caught.value)
    assert PASSWORD not in str(caught.value) and TOKEN not in str(caught.value)


def test_secrets_echoed_by_salesforce_are_redacted(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, status=400,
             json=sf_errors("INVALID_QUERY_FILTER_OPERATOR", f"bad token {SESSION} here"))  # fmt: skip
    with pytest.raises(RejectedError) as caught:
        sf.list_closed_won()
    assert SESSION not in str(caught.value) and "bad token *** here" in str(caught.value)


def test_a_long_message_is_clipped_after_redaction(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, status=400,
             json=sf_errors("INVALID_FIELD", "x" * 490 + SESSION + "y" * 100))  # fmt: skip
    with pytest.raises(RejectedError) as caught:
        sf.list_closed_won()
    message = caught.value.message
    assert SESSION[:4] not in message and "***" in message and len(message) == 500


# -- limits, outages and answers that are not Salesforce's ----------------------------------

LIMIT = sf_errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def test_request_limit_exceeded_is_rate_limited_and_retried_with_backoff(rsps, sf, sleeps) -> None:
    rsps.add(responses.GET, QUERY, status=403, json=LIMIT)
    rsps.add(responses.GET, QUERY, json=page([record("Opportunity", OPP)]))
    assert len(sf.list_closed_won()) == 1
    assert sleeps.waits == [0.5] and sf.stats.retries == 1


def test_request_limit_that_persists_is_raised_after_the_attempts(rsps, sf, sleeps) -> None:
    rsps.add(responses.GET, QUERY, status=403, json=LIMIT)
    with pytest.raises(RateLimited) as caught:
        sf.list_closed_won()
    assert caught.value.retryable and caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert caught.value.http_status == 403 and sleeps.waits == [0.5, 1.0]
    assert sf.stats.last_error == str(caught.value)


def test_another_403_is_forbidden_and_not_retried(rsps, sf, sleeps) -> None:
    rsps.add(responses.PATCH, re.compile(API + r"/sobjects/Opportunity/"), status=403,
             json=sf_errors("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights"))  # fmt: skip
    with pytest.raises(ForbiddenError):
        sf.write_status(OPP, "Error", "x")
    assert sleeps.waits == []


def test_an_empty_500_is_unavailable_and_retried(rsps, sf, sleeps) -> None:
    rsps.add(responses.GET, QUERY, status=500, body="")
    with pytest.raises(Unavailable) as caught:
        sf.list_closed_won()
    assert caught.value.retryable and caught.value.http_status == 500
    assert "an empty body" in str(caught.value) and sleeps.waits == [0.5, 1.0]


def test_a_patch_of_the_same_fields_is_retried_after_a_503(rsps, sf, sleeps) -> None:
    url = re.compile(API + rf"/sobjects/Opportunity/{OPP}$")
    rsps.add(responses.PATCH, url, status=503,
             json=sf_errors("SERVER_UNAVAILABLE", "Server temporarily unavailable"))  # fmt: skip
    rsps.add(responses.PATCH, url, status=204)
    sf.write_status(OPP, "Synced", "")
    assert len(patched(rsps)) == 2 and sleeps.waits == [0.5]


@pytest.mark.parametrize("status", [200, 404])
def test_an_html_page_is_a_bad_response(rsps, sf, status) -> None:
    html = "<!DOCTYPE html><html><body>Please log in</body></html>"
    rsps.add(responses.GET, QUERY, status=status, body=html, content_type="text/html")
    with pytest.raises(BadResponse) as caught:
        sf.list_closed_won()
    assert "an HTML page" in str(caught.value) and not caught.value.retryable


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(requests.ConnectionError("refused"), Unavailable), (requests.ReadTimeout("slow"), TimedOut)],
)
def test_connection_failures_are_retried_then_raised(rsps, sf, sleeps, failure, kind) -> None:
    rsps.add(responses.GET, QUERY, body=failure)
    with pytest.raises(kind) as caught:
        sf.list_closed_won()
    assert isinstance(caught.value, ConnectorError) and caught.value.retryable
    assert sleeps.waits == [0.5, 1.0] and sf.stats.calls == 3
