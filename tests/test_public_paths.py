"""Every public name keeps its import path: the public contract (``shared/DESIGN.md``)
and each module ``docs/reference.md`` documents, as they were before names found a home
of their own (a moved name is re-exported where it was)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

PUBLIC: dict[str, list[str]] = {
    "django_euler_oauth.api": [
        'BinaryAnswer', 'EulerAPI', 'python_name', 'reauthorize_url', 'with_connection_token'
    ],
    "django_euler_oauth.endpoints": [
        'BYTES', 'ENDPOINTS', 'ENDPOINTS_BY_NAME', 'Endpoint', 'JSON', 'SCOPE_ALIASES',
        'SPEC_SCOPES', 'canonical_scope', 'endpoint_for', 'endpoints_for_scope', 'required_scope'
    ],
    "django_euler_oauth.sdk": [
        'call', 'euler_sdk', 'sdk_client'
    ],
    "django_euler_oauth.sdk_transport": [
        'KeyedClient', 'ProviderTransport', 'sdk_options'
    ],
    "django_euler_oauth.accounts": [
        'AccountHeldElsewhere', 'BACKEND_PATH', 'CURRENT_KEY', 'LastWayIn', 'SignInRefused',
        'SignupClosed', 'current_connection', 'disconnect_account', 'display_data',
        'free_username', 'has_other_way_in', 'identifies', 'make_current', 'require_sign_in',
        'sign_in', 'sign_in_configured', 'store_connection'
    ],
    "django_euler_oauth.adapter": [
        'AccountAdapter', 'get_adapter', 'profile_text'
    ],
    "django_euler_oauth.backends": [
        'EulerAccountBackend'
    ],
    "django_euler_oauth.account_views": [
        'account_list', 'login', 'switch'
    ],
    "django_euler_oauth.teams": [
        'InvitationRefused', 'accept_invitation', 'can_manage', 'check_grant',
        'create_invitation', 'delegated_scopes', 'end_delegations', 'end_team', 'grant',
        'hash_token', 'may_use', 'revoke', 'revoke_invitation'
    ],
    "django_euler_oauth.audit": [
        'MODERATION_SCOPES', 'TARGET_PARAMETERS', 'outcome_of', 'prune', 'record',
        'record_scope_refusal', 'target_of'
    ],
    "django_euler_oauth.team_views": [
        'ACCESS_END_MAX_DAYS', 'AUDIT_PAGE_SIZE', 'access_end', 'audit_trail',
        'not_delegated_page', 'team', 'team_join', 'team_join_done', 'team_revoke'
    ],
    "django_euler_oauth.refresh": [
        'Outcome', 'get_access_token', 'mark_dead_locked', 'mark_reauthorization_required',
        'refresh_connection', 'refresh_if_expiring'
    ],
    "django_euler_oauth.tokens": [
        'MAX_EXPIRES_IN', 'MAX_SCOPE_LENGTH', 'TokenSet', 'error_fields', 'parse_token_payload',
        'unwrap'
    ],
    "django_euler_oauth.locking": [
        'locked_connection', 'take_write_lock'
    ],
    "django_euler_oauth.revocation": [
        'disconnect', 'expire_session', 'revoke_on_delete', 'revoke_tokens'
    ],
    "django_euler_oauth.maintenance": [
        'CleanupSummary', 'DEFAULT_CHUNK_SIZE', 'DEFAULT_MARGIN', 'DEFAULT_WORKERS',
        'MAX_LISTED_FAILURES', 'RefreshSummary', 'RotateSummary', 'default_window',
        'expire_refresh_tokens', 'expiring_pk_chunks', 'iter_pk_chunks', 'refresh_expiring',
        'refresh_one', 'refresh_pks', 'rotate_keys'
    ],
    "django_euler_oauth.models": [
        'AuditEntry', 'AuditEntryQuerySet', 'CLIENT_CACHE_SECONDS', 'Connection',
        'ConnectionQuerySet', 'DEFAULT_API_BASE_URL', 'DEFAULT_AUTHORIZE_URL',
        'DEFAULT_REVOKE_URL', 'DEFAULT_TOKEN_URL', 'Delegation', 'DelegationQuerySet',
        'Invitation', 'InvitationQuerySet', 'OAuthClient', 'OAuthClientQuerySet',
        'TOKEN_READ_FIELDS', 'cached_client', 'default_client_id', 'forget_cached_clients'
    ],
    "django_euler_oauth.fields": [
        'Ciphertext', 'EncryptedAttribute', 'EncryptedTextField', 'UndecryptableCiphertext'
    ],
    "django_euler_oauth.crypto": [
        'decrypt', 'encrypt', 'get_fernet', 'is_current', 'rotate'
    ],
    "django_euler_oauth.middleware": [
        'EulerTokenMiddleware', 'SyncAttributeInAsyncContext', 'get_connection'
    ],
    "django_euler_oauth.views": [
        'CLEANSED', 'MAX_PARAM_LENGTH', 'account_notice', 'authorize', 'callback', 'disconnect',
        'error_page', 'form_pk', 'redirect_uri_for', 'safe_next', 'sign_in_back',
        'start_authorization'
    ],
    "django_euler_oauth.state": [
        'MAX_STATE_LENGTH', 'PendingAuthorization', 'SESSION_KEY', 'begin', 'consume',
        'make_pkce_pair', 'purge_expired'
    ],
    "django_euler_oauth.templatetags.euler_oauth": [
        'time_left'
    ],
    "django_euler_oauth.signals": [
    ],
    "django_euler_oauth.errors": [
        'AccessDenied', 'AuthorizationCancelled', 'Category', 'ConfigurationError',
        'DEAD_GRANT_CODES', 'ERRORS_BY_CODE', 'EncryptionKeyError', 'EulerOAuthError',
        'ExpiredToken', 'InsufficientScope', 'InsufficientScopeError', 'InvalidClient',
        'InvalidGrant', 'InvalidRedirectURI', 'InvalidRequest', 'InvalidRequestError',
        'InvalidScope', 'InvalidToken', 'MalformedResponse', 'NotConnected', 'NotDelegated',
        'ProviderConfigurationError', 'RateLimited', 'ReauthorizationRequired',
        'ResponseTooLarge', 'RetryableError', 'RevokedToken', 'ServerError', 'SessionExpired',
        'Stage', 'StateError', 'TemporarilyUnavailable', 'TokenExpired', 'TokenExpiredError',
        'TransportError', 'Unauthorized', 'UnauthorizedClient', 'UnknownClient',
        'UnsupportedGrantType', 'UnsupportedResponseType', 'detached', 'error_for_code',
        'parse_retry_after', 'redact'
    ],
    "django_euler_oauth.conf": [
        'AppSettings', 'DEFAULT_KNOWN_SCOPES', 'PREFIX', 'app_settings'
    ],
    "django_euler_oauth.checks": [
        'AUTH_MIDDLEWARE', 'LOCAL_HOSTS', 'MIDDLEWARE_PATH', 'check_apps_and_middleware',
        'check_celery', 'check_client_urls', 'check_encryption_keys', 'check_sign_in_backend',
        'check_sign_in_clients', 'check_sqlite_transactions'
    ],
    "django_euler_oauth.client": [
        'BinaryAnswer', 'EulerOAuthError', 'ProviderClient', 'USER_AGENT', 'get_session'
    ],
    "django_euler_oauth.tasks": [
        'TASK_OPTIONS', 'refresh_connections', 'refresh_expiring'
    ],
    "django_euler_oauth.sandbox.setup": [
        'DEMO_ACCOUNTS', 'ensure_accounts', 'ensure_demo_client', 'ensure_sandbox_client'
    ],
    "django_euler_oauth.sandbox.controls": [
        'ALIASES', 'ALL', 'ENDPOINTS', 'Injected', 'MAX_LATENCY_MS', 'OAUTH_ENDPOINTS',
        'call_count', 'call_counts', 'count_call', 'expire_access_tokens',
        'expire_refresh_tokens', 'expire_session', 'fail_next', 'inject_error', 'injected',
        'rate_limit', 'reset', 'reset_counts', 'reset_faults', 'set_latency', 'sleep_for',
        'snapshot'
    ],
    "django_euler_oauth.sandbox.routers": [
        'ALIAS', 'APP_LABEL', 'SandboxRouter', 'sandbox_alias'
    ],
    "django_euler_oauth.decorators": [
        'EulerScopesRequiredMixin', 'euler_scopes_required', 'scopes_redirect'
    ],
    "django_euler_oauth.urls": [
        'app_name', 'urlpatterns'
    ],
}


#: Modules that need Euler's SDK (Python 3.11 and later) to import at all.
NEEDS_SDK = {"django_euler_oauth.sdk_transport"}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_still_imports(module):
    if module in NEEDS_SDK and importlib.util.find_spec("EulerApiSdk") is None:
        pytest.skip("Euler's SDK (Python 3.11+) is not installed")
    loaded = importlib.import_module(module)
    absent = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not absent, f"{module} lost {absent}"


def test_the_contracts_names_import():
    from django_euler_oauth.api import EulerAPI
    from django_euler_oauth.decorators import EulerScopesRequiredMixin, euler_scopes_required
    from django_euler_oauth.errors import NotDelegated
    from django_euler_oauth.middleware import EulerTokenMiddleware
    from django_euler_oauth.models import AuditEntry, Connection, Delegation, OAuthClient
    from django_euler_oauth.sandbox.setup import ensure_demo_client
    from django_euler_oauth.signals import (
        delegation_granted,
        delegation_revoked,
        signed_up,
    )
    from django_euler_oauth.urls import app_name

    assert app_name == "euler_oauth"
    from django.core.exceptions import PermissionDenied

    assert issubclass(NotDelegated, PermissionDenied)
    assert all((EulerAPI, EulerScopesRequiredMixin, euler_scopes_required,
                EulerTokenMiddleware, AuditEntry, Connection, Delegation, OAuthClient,
                ensure_demo_client, delegation_granted, delegation_revoked, signed_up))
