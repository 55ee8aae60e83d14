"""The exception tree: every documented code, its category, status and friendly message."""

from __future__ import annotations

import datetime
import pickle
from email.utils import format_datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_euler_oauth import errors
from django_euler_oauth.errors import (
    Category,
    ConfigurationError,
    EncryptionKeyError,
    EulerOAuthError,
    Stage,
    error_for_code,
    parse_retry_after,
    redact,
)

from .support.seed_messages import SEED_MESSAGES

# code -> (class, category, status). Categories follow the seed's handleOAuthError
# grouping and its quick reference (token_expired: "No (refresh token)").
EXPECTED = {
    "access_denied": (errors.AccessDenied, Category.USER_ACTION, None),
    "invalid_client": (errors.InvalidClient, Category.CONFIGURATION, 401),
    "invalid_redirect_uri": (errors.InvalidRedirectURI, Category.CONFIGURATION, 400),
    "unauthorized_client": (errors.UnauthorizedClient, Category.CONFIGURATION, 400),
    "invalid_request": (errors.InvalidRequest, Category.REQUEST, 400),
    "invalid_scope": (errors.InvalidScope, Category.REQUEST, 400),
    "unsupported_response_type": (errors.UnsupportedResponseType, Category.REQUEST, 400),
    "unsupported_grant_type": (errors.UnsupportedGrantType, Category.REQUEST, 400),
    "invalid_grant": (errors.InvalidGrant, Category.REAUTHORIZE, 400),
    "expired_token": (errors.ExpiredToken, Category.REAUTHORIZE, 400),
    "revoked_token": (errors.RevokedToken, Category.REAUTHORIZE, 401),
    "invalid_token": (errors.InvalidToken, Category.REAUTHORIZE, 401),
    "session_expired": (errors.SessionExpired, Category.REAUTHORIZE, 401),
    "token_expired": (errors.TokenExpired, Category.REFRESH, 401),
    "insufficient_scope": (errors.InsufficientScope, Category.SCOPE, 403),
    "server_error": (errors.ServerError, Category.RETRY, 500),
    "temporarily_unavailable": (errors.TemporarilyUnavailable, Category.RETRY, 503),
}


def test_every_documented_code_is_known():
    documented = set(SEED_MESSAGES) | {"unauthorized_client", "unsupported_grant_type",
                                       "temporarily_unavailable"}
    assert documented <= set(errors.ERRORS_BY_CODE)
    assert documented <= set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_code_maps_to_class_category_and_status(code):
    cls, category, status = EXPECTED[code]
    err = error_for_code(code, "details here")
    assert type(err) is cls
    assert isinstance(err, EulerOAuthError)
    assert err.code == code
    assert err.category == category
    assert err.status == status
    assert err.description == "details here"
    assert err.is_retryable is (category == Category.RETRY)
    assert err.needs_reauthorization is (category in (Category.REAUTHORIZE, Category.SCOPE))
    assert code in str(err) and "details here" in str(err)


@pytest.mark.parametrize("code", sorted(SEED_MESSAGES))
def test_friendly_message_is_the_documented_text(code):
    err = error_for_code(code)
    assert err.friendly_message == SEED_MESSAGES[code]


@pytest.mark.parametrize("code", ["unauthorized_client", "unsupported_grant_type",
                                  "temporarily_unavailable"])
def test_rfc6749_codes_have_a_friendly_message(code):
    message = error_for_code(code).friendly_message
    assert message and message.endswith(".")
    assert code not in message  # a sentence for people, not the code


def test_explicit_status_wins_over_default():
    err = error_for_code("invalid_grant", status=401, stage=Stage.TOKEN)
    assert err.status == 401 and err.stage == Stage.TOKEN
    assert "HTTP 401" in str(err)


def test_configuration_errors_are_improperly_configured():
    assert issubclass(ConfigurationError, ImproperlyConfigured)
    assert issubclass(EncryptionKeyError, ImproperlyConfigured)
    assert not issubclass(EncryptionKeyError, EulerOAuthError)
    assert not issubclass(ConfigurationError, EulerOAuthError)
    # A provider-side configuration error is both: caught by a broad handler of
    # either kind.
    for code in ("invalid_client", "invalid_redirect_uri", "unauthorized_client"):
        assert isinstance(error_for_code(code), ImproperlyConfigured)


def test_broad_except_cannot_swallow_a_key_error():
    with pytest.raises(EncryptionKeyError):
        try:
            raise EncryptionKeyError("no keys")
        except EulerOAuthError:  # pragma: no cover - must not catch it
            pytest.fail("EncryptionKeyError was caught as EulerOAuthError")


def test_descriptions_are_redacted_and_bounded():
    err = error_for_code("invalid_request", "header was Bearer abc.def.ghi-secret-token")
    assert "abc.def.ghi-secret-token" not in str(err)
    assert "abc.def.ghi-secret-token" not in err.description
    assert "[redacted]" in err.description
    long = error_for_code("server_error", "x" * 5000)
    assert len(long.description) <= 301
    assert len(str(long)) < 400


def test_descriptions_cannot_forge_log_lines():
    err = error_for_code("invalid_grant", "bad\nWARNING forged line\r\x00\u2028end")
    assert "\n" not in str(err) and "\r" not in str(err) and "\x00" not in err.description
    assert "forged line" in err.description  # the text stays readable, on one line


def test_redact_masks_given_secrets():
    text = redact("client sekrit-1234 and token tok-5678 and short ab", ["sekrit-1234",
                                                                          "tok-5678", "ab"])
    assert "sekrit-1234" not in text and "tok-5678" not in text
    assert text.count("[redacted]") == 2
    assert "short ab" in text  # too short to mask without wrecking the text
    assert redact("", [None, ""]) == ""


def test_unknown_code_becomes_retryable_server_error_keeping_the_code():
    err = error_for_code("brand_new_code", "Something new", status=400)
    assert isinstance(err, errors.ServerError)
    assert err.code == "brand_new_code"
    assert err.category == Category.RETRY and err.is_retryable
    assert err.status == 400
    assert "brand_new_code" in str(err)
    # ...and the class's own code is not changed for everybody else.
    assert errors.ServerError.code == "server_error"
    assert error_for_code("server_error").code == "server_error"


def test_unknown_code_with_429_is_rate_limited():
    err = error_for_code("", "slow down", status=429, retry_after=3.0)
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after == 3.0 and err.is_retryable


def test_retryable_codes_keep_retry_after():
    err = error_for_code("temporarily_unavailable", status=503, retry_after=12.0)
    assert isinstance(err, errors.TemporarilyUnavailable) and err.retry_after == 12.0


@pytest.mark.parametrize("code", [*sorted(EXPECTED), "brand_new_code"])
def test_exceptions_pickle(code):
    err = error_for_code(code, "some description", status=418, stage=Stage.API)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert copy.code == err.code
    assert copy.description == err.description
    assert copy.status == 418 and copy.stage == Stage.API
    assert str(copy) == str(err)


def test_retryable_exceptions_pickle_with_retry_after():
    for err in (errors.RateLimited("slow", retry_after=4.5),
                errors.TransportError("timed out"),
                errors.MalformedResponse("html", status=200)):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err)
        assert copy.retry_after == err.retry_after
        assert str(copy) == str(err)


def test_local_errors_pickle():
    for err in (errors.StateError("replayed"), errors.UnknownClient("nope"),
                errors.NotConnected("gone"), EncryptionKeyError("no keys")):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err)


def test_insufficient_scope_names_the_missing_scope():
    err = error_for_code("insufficient_scope",
                         "Token does not have required scope: webcast:rankings")
    assert err.missing_scope == "webcast:rankings"


# --- Retry-After ------------------------------------------------------------

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "120"}, 120.0),
    ({"Retry-After": " 7 "}, 7.0),
    ({"Retry-After": "1.5"}, 1.5),
    ({"Retry-After": "-5"}, 0.0),
    ({"RateLimit-Reset": "30"}, 30.0),
    ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}, 45.0),
    ({"X-RateLimit-Reset": str(int(NOW.timestamp()) - 45)}, 0.0),
    ({"Retry-After": format_datetime(NOW + datetime.timedelta(seconds=90), usegmt=True)}, 90.0),
    ({"Retry-After": format_datetime(NOW - datetime.timedelta(seconds=90), usegmt=True)}, 0.0),
    ({"Retry-After": "soon"}, None),
    ({"Retry-After": ""}, None),
    ({"Retry-After": "garbage", "RateLimit-Reset": "9"}, 9.0),
    ({}, None),
    (None, None),
])
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, now=NOW) == expected
