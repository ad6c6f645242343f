"""Bearer-token (JWT) verification for POST /events, when AUTH_ISSUER and AUTH_AUDIENCE are set.

PyJWT (with cryptography) does the JOSE work: signature, `exp`/`nbf` with leeway, `iss`,
`aud`. What is here is what PyJWT leaves to its caller, because its own key fetcher
(PyJWKClient) fetches synchronously and would stall the event loop:
- the issuer's signing keys, found through OIDC discovery (`<issuer>/.well-known/
  openid-configuration`, whose `issuer` must be AUTH_ISSUER exactly, then its `jwks_uri`),
  fetched with aiohttp within FETCH_TIMEOUT_SECONDS, one fetch at a time (concurrent callers
  share it), cached, fetched again for a token whose `kid` is unknown (a key rotation) at most
  once per `refresh_seconds` whatever tokens arrive, and in the background every
  `max_age_seconds` so a key the issuer withdrew stops verifying;
- the algorithm: only ALLOWED_ALGORITHMS (asymmetric: never `none`, never HS*, so a public key
  can never serve as an HMAC secret), and each key verifies only with the algorithm its JWK
  type allows (PyJWT's PyJWK binds the two);
- the answer: RFC 6750's `WWW-Authenticate: Bearer` with `invalid_request` / `invalid_token`
  (401) or `insufficient_scope` (403);
- a cache of verified tokens (a client reuses its token for many requests): keyed on the
  token's SHA-256, bounded, and each hit still checks the token's time window and that its
  key is still published.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import jwt
from jwt import PyJWK

from app.settings import is_loopback

log = logging.getLogger("app.auth")

ALLOWED_ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# Clock skew tolerated on `exp` and `nbf`.
LEEWAY_SECONDS: Final = 30
FETCH_TIMEOUT_SECONDS: Final = 3.0
KEYS_MAX_AGE_SECONDS: Final = 3600.0
# A JWKS or discovery document is a few KB; more is not one.
MAX_DOCUMENT_BYTES: Final = 256 * 1024
VERIFIED_CACHE_ENTRIES: Final = 4096
# OpenID Connect Core 1.0, section 2: `sub` "MUST NOT exceed 255 ASCII characters".
_SUB = re.compile(r"^[\x20-\x7e]{1,255}$")
# RFC 6750 section 2.1: "Bearer" 1*SP b64token.
_BEARER = re.compile(r"^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*) *$")
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


class AuthError(Exception):
    """The request is refused: 401 (no or a bad token) or 403 (a valid token without the
    required scope). `error` is RFC 6750's error code (None when no token was sent at all)."""

    def __init__(
        self, status: int, error: str | None, description: str, scope: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    def challenge(self) -> str:
        """The WWW-Authenticate header (RFC 6750 section 3): descriptions are fixed ASCII."""
        parts = ['Bearer realm="events"']
        if self.error is not None:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        if self.scope is not None:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)


def _invalid(description: str) -> AuthError:
    return AuthError(401, "invalid_token", description)


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    """The token's subject: who sent the event."""


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    kid: str
    exp: float
    nbf: float


class KeyFetchError(Exception):
    """The issuer's discovery document or JWKS could not be fetched or read."""


class Authenticator:
    """Verifies the `Authorization` header of a request; owns the issuer's keys."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        required_scope: str | None,
        *,
        refresh_seconds: float,
        max_age_seconds: float = KEYS_MAX_AGE_SECONDS,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.required_scope = required_scope
        self._refresh_seconds = refresh_seconds
        self._max_age_seconds = max_age_seconds
        self._discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._jwks_uri: str | None = None
        self._keys: dict[str, dict[str, Any]] | None = None  # kid -> JWK
        self._parsed: dict[tuple[str, str], PyJWK] = {}
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._last_attempt = -1e18
        self._fetch: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the first fetch of the keys (not waiting for it) and the periodic refresh."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS),
            # The issuer's answer is read as it is: no cookies, no netrc, no redirect chains.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._start_fetch()
        self._background = asyncio.get_running_loop().create_task(self._refresh_periodically())

    async def close(self) -> None:
        for task in (self._background, self._fetch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    def not_ready(self) -> str | None:
        """Why the app should not get traffic yet (the keys were never fetched), else None.
        Never waits: it starts a fetch when the rate limit allows and answers at once."""
        if self._keys is not None:
            return None
        if self._fetch is None and self._may_fetch():
            self._start_fetch()
        return f"signing keys not fetched yet from {self.issuer}"

    async def authenticate(self, headers: Sequence[str]) -> Principal:
        """The principal of a request with these `Authorization` header values; AuthError when
        it must be refused."""
        if not headers:
            raise AuthError(401, None, "a bearer token is required")
        match = _BEARER.match(headers[0]) if len(headers) == 1 else None
        if match is None:
            raise AuthError(
                401, "invalid_request", "expected one Authorization header: Bearer <token>"
            )
        token = match.group(1)
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None and self._still_valid(cached):
            self._verified.move_to_end(digest)
            return cached.principal
        verified = await self._verify(token)
        self._verified[digest] = verified
        if len(self._verified) > VERIFIED_CACHE_ENTRIES:
            self._verified.popitem(last=False)
        return verified.principal

    def _still_valid(self, cached: _Verified) -> bool:
        now = time.time()
        return (
            cached.nbf - LEEWAY_SECONDS <= now < cached.exp + LEEWAY_SECONDS
            and self._keys is not None
            and cached.kid in self._keys
        )

    async def _verify(self, token: str) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _invalid("the token is not a JWS in compact form") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise _invalid(
                "the token's alg is not allowed (allowed: " + " ".join(ALLOWED_ALGORITHMS) + ")"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _invalid("the token has no kid")
        key = await self._key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise _invalid("the token is not for this audience") from None
        except jwt.InvalidIssuerError:
            raise _invalid("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise _invalid("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidTokenError:
            raise _invalid("the token could not be verified") from None
        sub = claims["sub"]
        if not isinstance(sub, str) or not _SUB.match(sub):
            raise _invalid("the token's sub is not 1-255 printable ASCII characters")
        if self.required_scope is not None and self.required_scope not in _scopes(claims):
            raise AuthError(
                403,
                "insufficient_scope",
                "the token lacks the required scope",
                scope=self.required_scope,
            )
        return _Verified(Principal(sub), kid, float(claims["exp"]), float(claims.get("nbf", 0)))

    async def _key(self, kid: str, alg: str) -> PyJWK:
        if self._keys is None or kid not in self._keys:
            # A rotation (or the first fetch still under way): fetch again, rate-limited.
            if self._fetch is None and self._may_fetch():
                self._start_fetch()
            if self._fetch is not None:
                await asyncio.shield(self._fetch)
        if self._keys is None:
            raise _invalid("the issuer's signing keys could not be fetched")
        jwk = self._keys.get(kid)
        if jwk is None:
            raise _invalid("the token's kid is not one of the issuer's keys")
        if jwk.get("alg", alg) != alg:
            raise _invalid("the token's alg is not its key's")
        parsed = self._parsed.get((kid, alg))
        if parsed is None:
            try:
                parsed = PyJWK(jwk, alg)  # refuses a key of another type than alg needs
            except jwt.PyJWTError:  # PyJWKError, InvalidKeyError
                raise _invalid("the token's alg does not fit its key") from None
            self._parsed[kid, alg] = parsed
        return parsed

    def _may_fetch(self) -> bool:
        return time.monotonic() - self._last_attempt >= self._refresh_seconds

    def _start_fetch(self) -> None:
        self._last_attempt = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._fetch_keys())
        self._fetch = task

        def done(_: asyncio.Task[None]) -> None:
            if self._fetch is task:
                self._fetch = None

        task.add_done_callback(done)

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._max_age_seconds)
            if self._fetch is None:
                self._start_fetch()

    async def _fetch_keys(self) -> None:
        """Fetch and store the issuer's keys; a failure is logged and leaves the old ones."""
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._jwks_uri_of(await self._get_json(self._discovery_url))
            keys = _signing_keys(await self._get_json(self._jwks_uri))
        except KeyFetchError as exc:
            log.warning(
                "signing keys not fetched", extra={"issuer": self.issuer, "error": str(exc)}
            )
            return
        if keys != self._keys:
            self._parsed.clear()
        self._keys = keys
        log.info("signing keys fetched", extra={"issuer": self.issuer, "kids": sorted(keys)})

    def _jwks_uri_of(self, document: Any) -> str:
        # OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be the one
        # asked for, exactly, or it is another issuer's.
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise KeyFetchError(f"{self._discovery_url}: its issuer is not {self.issuer}")
        uri = document.get("jwks_uri")
        parts = urlsplit(uri) if isinstance(uri, str) else None
        secure = parts is not None and (
            parts.scheme == "https"
            or (parts.scheme == "http" and is_loopback(parts.hostname or ""))
        )
        if not secure:
            raise KeyFetchError(f"{self._discovery_url}: jwks_uri {uri!r} is not an https URL")
        return str(uri)

    async def _get_json(self, url: str) -> Any:
        assert self._session is not None, "start() first"
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise KeyFetchError(f"{url}: HTTP {response.status}")
                body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KeyFetchError(f"{url}: {type(exc).__name__} {exc}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise KeyFetchError(f"{url}: over {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise KeyFetchError(f"{url}: not JSON") from None


def _signing_keys(jwks: Any) -> dict[str, dict[str, Any]]:
    """kid -> JWK for the JWKS's asymmetric signing keys (RFC 7517); symmetric (`oct`) keys
    and encryption keys are left out, so they can never verify a token."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise KeyFetchError("the JWKS has no keys list")
    found: dict[str, dict[str, Any]] = {}
    for jwk in keys:
        if (
            isinstance(jwk, dict)
            and jwk.get("kty") in _KEY_TYPES
            and jwk.get("use", "sig") == "sig"
            and isinstance(jwk.get("kid"), str)
        ):
            found[jwk["kid"]] = jwk
    return found


def _scopes(claims: dict[str, Any]) -> set[str]:
    # RFC 9068 / RFC 8693: `scope` is a space-separated string; some issuers (Entra ID, Okta)
    # use `scp`, a string or a list.
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return found
