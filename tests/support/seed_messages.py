"""The provider's error reference, as the tests check it."""

# The seed's "User-Friendly Error Messages" table, verbatim.
SEED_MESSAGES = {
    "invalid_request": "Something went wrong. Please try again.",
    "invalid_client": "Application configuration error. Please contact support.",
    "invalid_scope": "Invalid permissions requested.",
    "invalid_redirect_uri": "Application configuration error. Please contact support.",
    "invalid_grant": "Authorization expired. Please try connecting again.",
    "access_denied": "You cancelled the connection. No worries!",
    "unsupported_response_type": "Application configuration error. Please contact support.",
    "server_error": "Server error. Please try again later.",
    "expired_token": "Your connection expired. Please reconnect your TikTok account.",
    "revoked_token": "Your connection was disconnected. Please reconnect.",
    "token_expired": "Session expired. Please wait while we reconnect...",
    "invalid_token": "Connection error. Please reconnect your TikTok account.",
    "insufficient_scope": "Additional permissions required. Please reconnect.",
    "session_expired": "Your TikTok session expired. Please reconnect your account.",
}
