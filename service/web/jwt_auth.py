"""Verifying the JWT that ACS puts on every GA callback (``Authorization: Bearer``).

RS256 only, issuer and audience checked (the audience is the ACS resource's immutable id),
expiry with a small skew. Signing keys come from the JWKS URL and are cached; an unknown
``kid`` triggers one refresh (ACS rotates keys), rate-limited so that forged tokens with random
kids cannot make callcue hammer the key endpoint.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jwt

from service.errors import Unauthenticated

LEEWAY_SECONDS = 30
REFRESH_AT_MOST_EVERY = 1.0  # seconds between two JWKS fetches triggered by unknown kids
CACHE_SECONDS = 3600.0


class JwtVerifier:
    def __init__(self, *, jwks_url: str, issuer: str, audience: str, http: httpx.AsyncClient) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < REFRESH_AT_MOST_EVERY and self._keys:
                return
            try:
                response = await self._http.get(self.jwks_url, timeout=5)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, json.JSONDecodeError) as exc:
                raise Unauthenticated(f"the callback signing keys could not be fetched ({type(exc).__name__})") from exc
            keys = {}
            for entry in document.get("keys", []) if isinstance(document, dict) else []:
                try:
                    key = jwt.PyJWK(entry)
                except jwt.PyJWTError:
                    continue  # a key of a type callcue does not use must not hide the others
                if key.key_id:
                    keys[key.key_id] = key
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched_at > CACHE_SECONDS
        if kid not in self._keys or stale:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the callback token is signed with an unknown key")
        return key

    async def verify(self, authorization: str) -> dict[str, Any]:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the callback has no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the callback token is malformed") from None
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise Unauthenticated("the callback token must be RS256 with a kid")
        key = await self._key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the callback token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the callback token is for another resource (audience)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the callback token has the wrong issuer") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the callback token is not valid ({type(exc).__name__})") from None
        return claims
