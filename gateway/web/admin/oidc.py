"""The relying party's side of OpenID Connect, without the web framework.

Discovery (once per process and URL), the provider's keys (fetched again
once when a token names a key we do not have: keys rotate), the authorization
URL with PKCE S256, the code exchange, and the ID token checks, done here with
joserfc: signature by the provider's JWKS, issuer, audience (and `azp`),
expiry, issue time and nonce. Failures raise the console's errors, which
`gateway.web.errors` answers.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.core.errors import GatewayError

log = logging.getLogger(__name__)

LEEWAY = 60  # seconds of clock skew allowed on ID token times
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
WELL_KNOWN = "/.well-known/openid-configuration"


class AdminError(GatewayError):
    """A console refusal, in English (staff only); `gateway.web.errors` chooses its status."""

    heading = "Sign-in failed"
    message = "The sign-in could not be completed."
    link: tuple[str, str] | None = ("/admin/login", "Sign in again")
    forget: tuple[str, ...] = ()  # cookies the answer deletes


class SignInFailed(AdminError):
    """The callback did not complete a sign-in (400); `reason` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(AdminError):
    """The sign-in service did not answer, or not sensibly (502)."""

    heading = "Sign-in unavailable"
    message = "The sign-in service did not answer. Try again in a minute."


@dataclass(frozen=True)
class Provider:
    """What discovery says about the provider."""

    issuer: str
    authorize_url: str
    token_url: str
    jwks_uri: str
    scope: str
    algorithms: tuple[str, ...]
    secret_in_body: bool  # client_secret_post rather than client_secret_basic


_providers: dict[str, Provider] = {}
_keysets: dict[str, KeySet] = {}


async def _fetch(http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    try:
        answer = await http.get(url, headers={"Accept": "application/json"})
        data = answer.json() if answer.status_code == 200 else None
    except (httpx2.HTTPError, ValueError) as exc:
        log.warning("OIDC provider: %s failed: %r", url, exc)
        raise ProviderUnavailable() from None
    if not isinstance(data, dict):
        log.warning("OIDC provider: %s answered %s, not a JSON object", url, answer.status_code)
        raise ProviderUnavailable()
    return data


async def discover(http: httpx2.AsyncClient, url: str) -> Provider:
    """The provider at discovery `url`, fetched once per process (a failure is not kept)."""
    if url in _providers:
        return _providers[url]
    meta = await _fetch(http, url)
    try:
        issuer = str(meta["issuer"])
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        scopes = ["openid", "email", "profile"]
        if "groups" in (meta.get("scopes_supported") or ()):
            scopes.append("groups")
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        found = Provider(
            issuer,
            str(meta["authorization_endpoint"]),
            str(meta["token_endpoint"]),
            str(meta["jwks_uri"]),
            " ".join(scopes),
            tuple(a for a in ALGORITHMS if a in offered),
            "client_secret_basic" not in methods,
        )
    except (KeyError, TypeError) as exc:
        log.error("OIDC discovery document at %s lacks %s", url, exc)
        raise ProviderUnavailable() from None
    if not found.algorithms:
        log.error("OIDC provider at %s signs with none of %s", url, ", ".join(ALGORITHMS))
        raise ProviderUnavailable()
    if url.rstrip("/") != issuer.rstrip("/") + WELL_KNOWN:  # OIDC Discovery 1.0, section 4.3
        log.error("OIDC issuer %r does not match its discovery URL %s", issuer, url)
        raise ProviderUnavailable()
    _providers[url] = found
    return found


async def keys(http: httpx2.AsyncClient, provider: Provider, *, fresh: bool = False) -> KeySet:
    """The provider's public keys (cached; `fresh` fetches them again)."""
    if fresh or provider.jwks_uri not in _keysets:
        data = await _fetch(http, provider.jwks_uri)
        try:
            _keysets[provider.jwks_uri] = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            log.error("OIDC JWKS at %s unreadable: %r", provider.jwks_uri, exc)
            raise ProviderUnavailable() from None
    return _keysets[provider.jwks_uri]


def authorization_url(
    provider: Provider, *, client_id: str, redirect_uri: str, state: str, nonce: str, verifier: str
) -> str:
    """Where the browser asks the provider for a code (PKCE S256)."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": provider.scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    joiner = "&" if "?" in provider.authorize_url else "?"
    return provider.authorize_url + joiner + urlencode(params)


async def exchange(
    http: httpx2.AsyncClient,
    provider: Provider,
    *,
    code: str,
    verifier: str,
    redirect_uri: str,
    client_id: str,
    secret: str | None,
) -> str:
    """Trade the code (with the PKCE verifier) for the ID token."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth: dict[str, Any] = {}
    if secret and not provider.secret_in_body:
        auth["auth"] = httpx2.BasicAuth(client_id, secret)
    else:
        form["client_id"] = client_id
        if secret:
            form["client_secret"] = secret
    try:
        answer = await http.post(
            provider.token_url, data=form, headers={"Accept": "application/json"}, **auth
        )
        body = answer.json()
    except (httpx2.HTTPError, ValueError) as exc:
        log.warning("OIDC token endpoint failed: %r", exc)
        raise ProviderUnavailable() from None
    if answer.status_code != 200 or not isinstance(body, dict):
        raise SignInFailed(f"token endpoint answered {answer.status_code}: {body!r:.200}")
    token = body.get("id_token")
    if not isinstance(token, str):
        raise SignInFailed("no id_token in the token answer")
    return token


def verify_id_token(
    token: str,
    keyset: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: dt.datetime,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> dict[str, Any]:
    """The claims of an ID token issued to us for this sign-in; SignInFailed otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(token, keyset, algorithms=list(algorithms)).claims
    except (JoseError, ValueError) as exc:
        raise SignInFailed(f"bad_signature: {exc}") from None
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except (JoseError, ValueError) as exc:
        raise SignInFailed(f"bad_claims: {exc}") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise SignInFailed("bad_claims: azp is not us")
    return claims


async def verified_claims(
    http: httpx2.AsyncClient,
    provider: Provider,
    token: str,
    *,
    client_id: str,
    nonce: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """`verify_id_token` against the provider's keys, fetched again once if none fits."""
    check: dict[str, Any] = {"issuer": provider.issuer, "client_id": client_id, "nonce": nonce}
    check |= {"now": now, "algorithms": provider.algorithms}
    try:
        return verify_id_token(token, await keys(http, provider), **check)
    except SignInFailed as first:
        if not first.reason.startswith("bad_signature"):
            raise
    return verify_id_token(token, await keys(http, provider, fresh=True), **check)
