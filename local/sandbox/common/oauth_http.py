"""The OAuth 2.0 pieces every sandbox's authorization server shares: the authorize request's parameters, the consent
page's hidden fields, redirects back to the client, HTML error pages, HTTP Basic client credentials and PKCE S256.
What each CRM answers (its error codes, pages, tokens) stays in the CRM's package."""

from __future__ import annotations

import base64
import hashlib
import html
from urllib.parse import unquote, urlencode, urlsplit

from werkzeug.wrappers import Request, Response

SIGN_IN_FIELDS = ("sandbox_login", "sandbox_consent")  # what the consent page itself adds to the authorize request


def authorize_params(request: Request) -> dict[str, str]:
    """The query parameters, plus the form fields when the consent page posts back."""
    params = dict(request.args.items())
    if request.method == "POST":
        params.update(request.form.items())
    return params


def hidden_inputs(values: dict[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in values.items())


def carried_params(params: dict[str, str]) -> str:
    """Hidden inputs that carry the authorize request through the consent page."""
    return hidden_inputs({k: v for k, v in params.items() if k not in SIGN_IN_FIELDS})


def redirect_with(redirect_uri: str, params: dict[str, str | None], *, fragment: bool = False) -> Response:
    """302 to the client with `params` (None values left out) in the query, or in the fragment."""
    clean = {k: v for k, v in params.items() if v is not None}
    sep = "#" if fragment else ("&" if urlsplit(redirect_uri).query else "?")
    return Response("", status=302, headers={"Location": f"{redirect_uri}{sep}{urlencode(clean)}"})


def error_page(status: int, title: str, detail: str) -> Response:
    """An HTML error shown to the user instead of a redirect (e.g. an unregistered redirect URI)."""
    page = f"<!doctype html><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>"
    return Response(page, status=status, mimetype="text/html")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic`, None without one; ValueError when it is malformed."""
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    basic_id, _, basic_secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
    return unquote(basic_id), unquote(basic_secret)


def pkce_s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
