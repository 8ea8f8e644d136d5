"""Staff sign-in to `/admin/` with the organisation's OpenID Connect provider.

Authorization code flow with PKCE (S256), `state` and `nonce`. The pending
sign-in lives in a signed cookie for 10 minutes, so a sign-in started on one
replica completes on another. The ID token is checked here with joserfc
(signature by the provider's JWKS, issuer, audience, expiry, nonce). Roles
come from the email (when `email_verified` is true), a `groups` claim or the
subject (`sub:<sub>`) matched against `[admin]`, looked up on every request.
A signed-in staff member has a session in the store (`admin-session:<id>`,
holding who they are, never their roles), named by a random id in a signed
cookie; sign-out deletes both, and so does being taken off every list.

Console pages call `staff(request, role)`. Words are English: staff only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx2
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from itsdangerous import BadSignature, TimestampSigner
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.audit.log import REASON_NAMES_ADDRESS, reason_text
from gateway.sessions.signing import Purpose, timed_signer
from gateway.settings import AdminSettings
from gateway.web import csrf
from gateway.web.admin import oidc
from gateway.web.admin.oidc import AdminError, SignInFailed
from gateway.web.pages import render
from gateway.web.services import Services, client_ip, services

log = logging.getLogger(__name__)

OPS = "ops"
AUDITOR = "auditor"
HOME = "/admin/"
PENDING_MAX_AGE = 600  # seconds from /admin/login to /admin/callback
SESSION_MAX_AGE = 8 * 3600
SIGN_IN = "sign-in"  # `admin.refused`'s action for a sign-in refused at the callback
SESSION_KEY = "admin-session:"


class SignInRequired(AdminError):
    """Not signed in: answered 303 to the sign-in, which comes back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = safe_next(next_path)

    @property
    def login_url(self) -> str:
        return "/admin/login?" + urlencode({"next": self.next_path})


class NotAllowed(AdminError):
    """Signed in (or identified by the provider) without the role asked for (403)."""

    heading = "Not allowed"
    link = None

    def __init__(self, identity: str, role: str) -> None:
        super().__init__(identity, role)
        self.identity, self.role = identity, role
        self.message = (
            f"{identity} is not on the console's staff lists."
            if role == "staff"
            else f"{identity} may not do this: it needs the {role} role."
        )


class ConsoleNotConfigured(AdminError):
    """No `[admin]` discovery URL or client id (404)."""

    heading = "Not configured"
    message = "The console is not configured."
    link = ("/", "Home")


class FormExpired(AdminError):
    """A console form without a valid CSRF token (403)."""

    heading = "Form expired"
    message = "Reload the page and try again."
    link = ("/admin/logout", "Sign out")


class ReasonRefused(AdminError):
    """A reason naming an email address (400): the audit log would keep it for good."""

    heading = "Reason not kept"
    message = f"Nothing was changed: {REASON_NAMES_ADDRESS}. Go back and reword it."
    link = ("/admin/", "Dashboard")


def staff_reason(fields: Mapping[str, str]) -> str | None:
    """The form's `reason` as the audit event keeps it (`reason_text`); ReasonRefused."""
    try:
        return reason_text(fields.get("reason"))
    except ValueError:
        raise ReasonRefused() from None


class FormTooLarge(AdminError):
    """A console form with a field over MAX_FIELD or too many fields (400)."""

    heading = "Too long"
    message = (
        "A field of the form is over 4 KB (or the form has too many fields): nothing was "
        "changed. Go back and shorten it."
    )
    link = ("/admin/", "Dashboard")


MAX_FIELD = 4096  # bytes of one console form field (a reason, a name, an address)


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member: an identity (email, or the provider's subject), the roles
    `[admin]` gives them now, and the names (verified email, groups, `sub:`) it was read by."""

    identity: str
    roles: frozenset[str]
    names: frozenset[str] = frozenset()

    def can(self, role: str) -> bool:
        """Whether they may act as `role`; ops can do everything an auditor can."""
        return role in self.roles or (role == AUDITOR and OPS in self.roles)


def safe_next(value: str) -> str:
    """`value` if it is a local path (also when percent-decoded, repeatedly), else `/admin/`."""
    if not value or len(value) > 2000:
        return HOME
    seen = value
    for _ in range(4):  # %252F is %2F is /
        if not _local(seen):
            return HOME
        decoded = unquote(seen)
        if decoded == seen:
            return value
        seen = decoded
    return HOME  # encoded more deeply than any honest link


def _local(path: str) -> bool:
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        return False  # browsers drop tabs and newlines: "/\t/evil" is "//evil"
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def _names(claims: dict[str, Any]) -> tuple[str, frozenset[str]]:
    """(identity, names to look up in `[admin]`) from verified ID token claims.

    The email counts only when `email_verified` is the JSON boolean true: a provider
    that leaves the claim out (or sends "true") has not verified it. Such providers
    are mapped by a `groups` claim or by subject (`sub:<sub>` in a list).
    """
    email = claims.get("email")
    verified = isinstance(email, str) and claims.get("email_verified") is True
    names = {f"sub:{claims['sub']}"}
    if verified and isinstance(email, str):
        names.add(email.lower())
    groups = claims.get("groups")
    if isinstance(groups, list):  # (a group called "sub:…" would stand in for a subject)
        names.update(g.lower() for g in groups if isinstance(g, str) and not _is_sub(g))
    identity = email.lower() if verified and isinstance(email, str) else str(claims["sub"])
    return identity, frozenset(names)


def _is_sub(name: str) -> bool:
    return name[:4].lower() == "sub:"


def roles_of(names: Iterable[str], admin: AdminSettings) -> frozenset[str]:
    """The roles `names` have under `admin` as configured now (never frozen into a session)."""
    names = set(names)  # the lists are read in lower case, but for `sub:` subjects
    roles = {OPS} if names & set(admin.ops) else set()
    if names & set(admin.auditors):
        roles.add(AUDITOR)
    return frozenset(roles)


def _configured(svc: Services) -> AdminSettings:
    admin = svc.settings.admin
    if not admin.oidc_discovery_url or not admin.client_id:
        raise ConsoleNotConfigured()
    return admin


def _signer(svc: Services, purpose: Purpose) -> TimestampSigner:
    keys = [k.reveal() for k in svc.settings.secrets.secret_keys]
    return timed_signer(keys, purpose, svc.clock)


def _cookie_names(svc: Services) -> tuple[str, str]:
    """(pending sign-in, admin session); `__Host-` under https."""
    prefix = "__Host-" if svc.settings.event.secure else ""
    return prefix + "gw_oidc", prefix + "gw_admin"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _cookie(svc: Services, response: Response, name: str, value: str | None, age: int = 0) -> None:
    """Set (or with None delete) one of our cookies; Lax, since both are needed right after
    the provider's cross-site redirect (Strict ones are not sent in that redirect chain)."""
    secure = svc.settings.event.secure
    if value is None:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    else:
        response.set_cookie(
            name, value, max_age=age, path="/", secure=secure, httponly=True, samesite="lax"
        )


async def signed_in(request: Request) -> Staff | None:
    """The staff member this browser's admin session names, if it is current."""
    svc = services(request)
    try:
        cookie = request.cookies.get(_cookie_names(svc)[1], "")
        sid = _signer(svc, Purpose.ADMIN).unsign(cookie, max_age=SESSION_MAX_AGE).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    raw = await svc.store.get_value(SESSION_KEY + sid)
    if raw is None:
        return None
    data = json.loads(raw)
    if dt.datetime.fromisoformat(data["expires_at"]) <= svc.clock():
        await svc.store.delete_value(SESSION_KEY + sid)
        return None
    roles = roles_of(data.get("names", ()), svc.settings.admin)
    if not roles:  # taken off every list since signing in: signed out here and everywhere
        await svc.store.delete_value(SESSION_KEY + sid)
        await svc.audit.record(
            "admin.refused",
            actor=data["identity"],
            ip=client_ip(request),
            reason="not_staff",
            action=f"{request.method} {request.url.path}",
        )
        return None
    return Staff(data["identity"], roles)


async def staff(request: Request, role: str) -> Staff:
    """The signed-in staff member, if they have `role`: else SignInRequired or NotAllowed."""
    svc = services(request)
    _configured(svc)
    member = await signed_in(request)
    if member is None:  # back to this page after the sign-in (a form's page: the console's)
        query = request.url.query
        here = request.url.path + (f"?{query}" if query else "")
        raise SignInRequired(here if request.method == "GET" else HOME)
    if not member.can(role):
        action = f"{request.method} {request.url.path}"
        hour = svc.clock().strftime("%Y-%m-%dT%H")  # the same attempt again: once an hour
        await svc.audit.record_once(
            f"admin.refused:{member.identity}:{action}:{hour}",
            "admin.refused",
            actor=member.identity,
            ip=client_ip(request),
            reason="missing_role",
            role=role,
            action=action,
        )
        raise NotAllowed(member.identity, role)
    return member


def _http(svc: Services) -> httpx2.AsyncClient:
    if svc.http is None:
        raise RuntimeError("no HTTP client in the app's services")
    return svc.http


def _redirect_uri(svc: Services) -> str:
    return svc.settings.event.public_url + "/admin/callback"  # never from the Host header


async def login(request: Request) -> Response:
    """Start the sign-in: remember it in a signed cookie, send the browser to the provider."""
    svc = services(request)
    admin = _configured(svc)
    next_path = safe_next(request.query_params.get("next", HOME))
    if await signed_in(request) is not None:
        return _no_store(RedirectResponse(next_path, status_code=303))
    provider = await oidc.discover(_http(svc), admin.oidc_discovery_url or "")
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    pending = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_path}
    pending["at"] = svc.clock().isoformat()
    packed = base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()
    url = oidc.authorization_url(
        provider,
        client_id=admin.client_id or "",
        redirect_uri=_redirect_uri(svc),
        state=state,
        nonce=nonce,
        verifier=verifier,
    )
    response = RedirectResponse(url, status_code=303)
    signed = _signer(svc, Purpose.OIDC_STATE).sign(packed).decode()
    _cookie(svc, response, _cookie_names(svc)[0], signed, PENDING_MAX_AGE)
    return _no_store(response)


def _pending(request: Request, svc: Services) -> dict[str, str]:
    try:
        cookie = request.cookies.get(_cookie_names(svc)[0], "")
        packed = _signer(svc, Purpose.OIDC_STATE).unsign(cookie, max_age=PENDING_MAX_AGE)
        pending: dict[str, str] = json.loads(base64.urlsafe_b64decode(packed))
        age = svc.clock() - dt.datetime.fromisoformat(pending["at"])
    except (BadSignature, ValueError, KeyError, TypeError):
        raise SignInFailed("no pending sign-in") from None
    if not dt.timedelta(seconds=-oidc.LEEWAY) <= age <= dt.timedelta(seconds=PENDING_MAX_AGE):
        raise SignInFailed("pending sign-in expired")
    return pending


async def _complete(request: Request, svc: Services) -> tuple[Staff, str]:
    """Check the callback against the pending sign-in: the staff member and where to go."""
    admin, http, ip = _configured(svc), _http(svc), client_ip(request)
    pending, params = _pending(request, svc), request.query_params
    if not secrets.compare_digest(params.get("state", ""), pending["state"]):
        raise SignInFailed("state does not match")
    if "error" in params or not params.get("code"):
        raise SignInFailed(f"provider answered {params.get('error', 'no code')!r:.100}")
    if not await svc.store.mark_once("admin.oidc-state:" + pending["state"]):
        raise SignInFailed("callback replayed")
    provider = await oidc.discover(http, admin.oidc_discovery_url or "")
    secret = svc.settings.secrets.oidc_client_secret
    token = await oidc.exchange(
        http,
        provider,
        code=params["code"],
        verifier=pending["verifier"],
        redirect_uri=_redirect_uri(svc),
        client_id=admin.client_id or "",
        secret=secret.reveal() if secret else None,
    )
    try:
        claims = await oidc.verified_claims(
            http,
            provider,
            token,
            client_id=admin.client_id or "",
            nonce=pending["nonce"],
            now=svc.clock(),
        )
    except SignInFailed:
        await svc.audit.record("admin.refused", ip=ip, reason="invalid_id_token", action=SIGN_IN)
        raise
    identity, names = _names(claims)
    roles = roles_of(names, admin)
    if not roles:  # not staff, so not named in the log (a keyed hash tells attempts apart)
        who = await svc.audit.hash_ip(identity)
        await svc.audit.record(
            "admin.refused", ip=ip, reason="not_staff", action=SIGN_IN, identity=who
        )
        raise NotAllowed(identity, "staff")
    await svc.audit.record("admin.login", actor=identity, ip=ip, roles=sorted(roles))
    return Staff(identity, roles, names), safe_next(pending["next"])


async def callback(request: Request) -> Response:
    """The provider sends the browser back here: a new admin session, then `next`."""
    svc = services(request)
    _configured(svc)
    pending_cookie, session_cookie = _cookie_names(svc)
    try:
        member, next_path = await _complete(request, svc)
    except AdminError as exc:
        if isinstance(exc, SignInFailed):
            log.warning("admin sign-in failed: %s", exc.reason)
        exc.forget = (pending_cookie,)  # consumed: a replay finds no pending sign-in
        raise
    await _end_session(request, svc)  # never carry a session id over a sign-in
    sid = secrets.token_urlsafe(32)
    expires = svc.clock() + dt.timedelta(seconds=SESSION_MAX_AGE)
    record = {  # who, and the names their roles are looked up by: never the roles
        "identity": member.identity,
        "names": sorted(member.names),
        "expires_at": expires.isoformat(),
    }
    await svc.store.set_value(SESSION_KEY + sid, json.dumps(record))
    response = RedirectResponse(next_path, status_code=303)
    _cookie(svc, response, pending_cookie, None)
    signed = _signer(svc, Purpose.ADMIN).sign(sid).decode()
    _cookie(svc, response, session_cookie, signed, SESSION_MAX_AGE)
    return _no_store(response)


async def _end_session(request: Request, svc: Services) -> None:
    try:
        cookie = request.cookies.get(_cookie_names(svc)[1], "")
        sid = _signer(svc, Purpose.ADMIN).unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return
    await svc.store.delete_value(SESSION_KEY + sid)


async def logout_form(request: Request) -> Response:
    """A page with the sign-out button (the console's header has one too)."""
    svc = services(request)
    token, cookie = csrf.issue(request, svc.csrf_signer, secure=svc.settings.event.secure)
    response = render(
        request, "admin_message.html", heading="Sign out", message="", csrf=token, link=None
    )
    csrf.set_cookie(response, cookie, secure=svc.settings.event.secure)
    return _no_store(response)


async def posted(request: Request, svc: Services, *, max_fields: int) -> dict[str, str]:
    """A console form's fields (at most `max_fields`) once its CSRF token checks out;
    FormExpired (403) otherwise.

    The console's one CSRF path (the public registration form keeps the visitor's input
    and shows the form again instead: `web.register`)."""
    try:
        form = request.form(max_files=0, max_fields=max_fields, max_part_size=MAX_FIELD)
        async with form as data:
            fields = {k: v for k, v in data.items() if isinstance(v, str)}
    except HTTPException as exc:  # Starlette's 400 for a field or form over these limits
        if exc.status_code != 400:
            raise
        raise FormTooLarge() from None
    try:
        token = fields.get(csrf.FIELD, "")
        csrf.verify(request, token, svc.csrf_signer, svc.settings.event.public_url)
    except csrf.CsrfFailed:
        raise FormExpired() from None
    return fields


async def logout(request: Request) -> Response:
    """`POST /admin/logout` with the form's CSRF token: the session ends here and in the store."""
    svc = services(request)
    await posted(request, svc, max_fields=10)
    await _end_session(request, svc)
    response = RedirectResponse("/", status_code=303)
    _cookie(svc, response, _cookie_names(svc)[1], None)
    return _no_store(response)


async def whoami(request: Request) -> Response:
    """Who is signed in, as JSON (for ops and scripts checking the provider's set-up)."""
    member = await staff(request, AUDITOR)
    body = {"identity": member.identity, "roles": sorted(member.roles)}
    return _no_store(JSONResponse(body))


routes = [
    Route("/admin/login", login),
    Route("/admin/callback", callback),
    Route("/admin/logout", logout_form, methods=["GET"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/whoami", whoami),
]
