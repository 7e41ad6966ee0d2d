"""HTTP API plumbing shared by every HTTP function: resolver factory, error mapping, and the caller's identity."""

from leadbridge.api.auth import Principal, principal_from_claims, require_admin
from leadbridge.api.dependencies import AdminCaller, Caller
from leadbridge.api.errors import ERROR_CONTENT, ErrorBody, error_response, error_responses
from leadbridge.api.resolver import SECURED, http_lambda_handler, make_resolver, model_response

__all__ = [
    "ERROR_CONTENT",
    "SECURED",
    "AdminCaller",
    "Caller",
    "ErrorBody",
    "Principal",
    "error_response",
    "error_responses",
    "http_lambda_handler",
    "make_resolver",
    "model_response",
    "principal_from_claims",
    "require_admin",
]
