"""The OAuth 2.0 token endpoint for practice software (client credentials + DPoP).

`POST /oauth/token` with a form body (RFC 6749 section 4.4): `grant_type`
`client_credentials`, the client's id and secret (in the form, or as HTTP Basic), and
a `DPoP` header holding a proof for this request (RFC 9449). The answer is a short-lived
access token bound to the proof's key. Errors use RFC 6749's JSON shape: 400
`invalid_request`, `unsupported_grant_type` or `invalid_dpop_proof`; 401
`invalid_client`.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rempart.auth.errors import ClientAuthFailed, InvalidDpopProof, InvalidInput
from rempart.auth.services import AuthServices
from rempart.web.auth_identity import request_url
from rempart.web.dependencies import run_blocking
from rempart.web.forms import FormError, read_form
from rempart.web.identity import client_address

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)
TOKEN_FIELDS = {"grant_type": 64, "client_id": 64, "client_secret": 512, "scope": 512}
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}

router = APIRouter(tags=["oauth"])


# Not in the OpenAPI document: an RFC 6749 form endpoint, described in docs/portal.md.
@router.post(TOKEN_PATH, include_in_schema=False)
async def token(request: Request) -> Response:
    auth: AuthServices = request.app.state.auth
    try:
        form = await read_form(request, limits=TOKEN_FIELDS, ignore_unknown=True)
        client_id, client_secret = _client_credentials(request, form)
    except FormError as exc:
        return oauth_error(400, "invalid_request", str(exc))
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        return oauth_error(400, "invalid_dpop_proof", "more than one DPoP header")
    try:
        issued = await run_blocking(
            request, auth.api_auth.token, grant_type=form.get("grant_type", ""),
            client_id=client_id, client_secret=client_secret,
            dpop_proof=proofs[0] if proofs else None, method=request.method,
            url=request_url(request), address=client_address(request))
    except ClientAuthFailed:
        return oauth_error(401, "invalid_client", "client authentication failed")
    except InvalidDpopProof as exc:
        return oauth_error(400, "invalid_dpop_proof", exc.reason)
    except InvalidInput as exc:
        code = "unsupported_grant_type" if exc.field == "grant_type" else "invalid_request"
        return oauth_error(400, code, str(exc))
    body = {"access_token": issued.access_token, "token_type": issued.token_type,
            "expires_in": issued.expires_in}
    return Response(orjson.dumps(body), media_type="application/json", headers=_NO_STORE)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_basic or client_secret_post; both at once is refused (RFC 6749 2.3)."""
    header = request.headers.get("authorization")
    if header is None:
        return form.get("client_id", ""), form.get("client_secret", "")
    if "client_secret" in form:
        raise FormError("client_secret", "given both in the form and in Authorization")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise FormError("authorization", "only the Basic scheme is accepted here")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise FormError("authorization", "malformed Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise FormError("authorization", "malformed Basic credentials")
    return unquote(client_id), unquote(secret)


def oauth_error(status: int, error: str, description: str) -> Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="rempart"'
    return Response(orjson.dumps({"error": error, "error_description": description}),
                    status_code=status, media_type="application/json", headers=headers)
