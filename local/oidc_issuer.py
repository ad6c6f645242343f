"""A local OpenID Connect issuer on 127.0.0.1 for the app's bearer tokens (tests/app/
test_auth.py, bench/app_throughput.py): discovery document and JWKS over plain http (the app
allows http for a loopback issuer only), tokens it mints (and forgeries), keys that can be
rotated or withdrawn, a delay to make it slow, and a count of the JWKS fetches.

    issuer = Issuer().start()   # AUTH_ISSUER=issuer.url AUTH_AUDIENCE=AUDIENCE
    token = issuer.mint(sub="billing-service")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "api://events"
SCOPE = "events:write"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(kid: str, key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """`url` is the issuer (the tokens' `iss`); `publish` sets the keys in its JWKS."""

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {"rsa-1": new_rsa_key(), "ec-1": new_ec_key()}
        self.published: list[str] = list(self.keys)
        self.delay = 0.0
        self.discovery: dict[str, Any] = {}  # overrides of the discovery document's fields
        self.jwks_fetches: list[float] = []  # time.monotonic() of each JWKS request received
        self.in_progress = threading.Event()  # set while a JWKS request is being answered
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                    body.update(issuer.discovery)
                elif self.path == "/jwks":
                    issuer.jwks_fetches.append(time.monotonic())
                    issuer.in_progress.set()
                    time.sleep(issuer.delay)
                    issuer.in_progress.clear()
                    body = {"keys": [public_jwk(k, issuer.keys[k]) for k in issuer.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the app gave up waiting (its fetch timeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Issuer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, kid: str, key: PrivateKey, *, publish: bool) -> None:
        self.keys[kid] = key
        if publish:
            self.published.append(kid)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "producer-1",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "scope": f"openid {SCOPE}",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self, kid: str = "rsa-1", alg: str | None = None, signed_by: str = "", **overrides: Any
    ) -> str:
        """A token naming key `kid`, signed with it (or with key `signed_by`; RS256 for RSA
        keys, ES256 for EC), with these claims over the defaults (None removes a claim)."""
        key = self.keys[signed_by or kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(self.claims(**overrides), key, algorithm=alg, headers={"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def hs256_with_public_key(self, kid: str = "rsa-1") -> str:
        """The classic key-confusion forgery: HS256 with the issuer's public key as the HMAC
        secret (PyJWT refuses to make one, so it is made by hand)."""
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64(json.dumps(self.claims()).encode())
        signing_input = f"{header}.{payload}".encode()
        mac = hmac.new(self.public_pem(kid), signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(mac)}"

    def unsigned(self, kid: str = "rsa-1") -> str:
        """`alg: none`, no signature."""
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        return f"{header}.{b64(json.dumps(self.claims()).encode())}."

    def tampered(self, kid: str = "rsa-1") -> str:
        """A valid token whose payload was changed afterwards (another sub)."""
        header, _, signature = self.mint(kid).split(".")
        payload = b64(json.dumps(self.claims(sub="someone-else")).encode())
        return f"{header}.{payload}.{signature}"
