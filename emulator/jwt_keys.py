"""The RS256 keys that sign GA callbacks, the JWKS that publishes them, and the tokens.

Like ACS, every GA callback carries ``Authorization: Bearer <JWT>``: RS256, ``kid`` header, ``iss``
(the configured issuer), ``aud`` (the resource id), ``iat``/``nbf`` now and ``exp`` five minutes
later. Each delivery attempt gets a token issued that second. RS256 (PKCS#1 v1.5) is deterministic,
so two tokens minted in the same second with the same claims are the same bytes: the ring keeps the
current second's token instead of signing it again, which keeps RSA (~2 ms a signature on these
machines) off the path of a thousand callbacks a second. Rotation adds a key and signs with it;
older keys stay published until dropped, so a receiver that caches the JWKS keeps verifying while
it refreshes.

The ``jwt*`` faults produce tokens a correct verifier must refuse.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TOKEN_LIFETIME = 300
_WRONG_ISSUER = "https://wrong-issuer.callcue-emulator.invalid"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeyRing:
    def __init__(self, *, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        # The first key is made on first use: a preview-only run never needs one.
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._current = ""
        self._stranger: rsa.RSAPrivateKey | None = None
        self._minted: dict[tuple[int, str, str | None], str] = {}

    def ensure_key(self) -> None:
        """Make the first key if there is none yet (it costs ~0.1 s of CPU)."""
        if not self._keys:
            self.rotate()

    @property
    def current_kid(self) -> str:
        self.ensure_key()
        return self._current

    def kids(self) -> list[str]:
        self.ensure_key()
        return list(self._keys)

    def rotate(self, *, drop_old: bool = False) -> str:
        kid = uuid.uuid4().hex
        if drop_old:
            self._keys.clear()
        self._keys[kid] = _new_key()
        self._current = kid
        self._minted.clear()
        return kid

    def jwks(self) -> dict[str, Any]:
        self.ensure_key()
        keys = []
        for kid, key in self._keys.items():
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            keys.append(jwk)
        return {"keys": keys}

    def _stranger_key(self) -> rsa.RSAPrivateKey:
        # A key that is published nowhere: its signatures can only fail verification.
        if self._stranger is None:
            self._stranger = _new_key()
        return self._stranger

    def mint(self, fault: str | None = None) -> str:
        """A fresh callback token; ``fault`` is one of the ``jwt*`` fault kinds, or None."""
        now = int(time.time())
        cache_key = (now, self.current_kid, fault)
        token = self._minted.get(cache_key)
        if token is None:
            if len(self._minted) > 16:  # only the current second's tokens are ever reused
                self._minted.clear()
            token = self._minted[cache_key] = self._sign(now, fault)
        return token

    def _sign(self, now: int, fault: str | None) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
        }
        kid = self.current_kid
        key = self._keys[kid]
        if fault == "jwtExpired":
            claims.update(iat=now - 2 * TOKEN_LIFETIME, nbf=now - 2 * TOKEN_LIFETIME, exp=now - TOKEN_LIFETIME)
        elif fault == "jwtWrongAudience":
            claims["aud"] = str(uuid.uuid4())
        elif fault == "jwtWrongIssuer":
            claims["iss"] = _WRONG_ISSUER
        elif fault == "jwtUnknownKid":
            kid = uuid.uuid4().hex
        elif fault == "jwtBadSignature":
            key = self._stranger_key()
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
