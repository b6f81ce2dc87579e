"""Issue and check the short-lived JWTs of the live channel."""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import has_crypto

log = logging.getLogger(__name__)

HMAC_ALGORITHMS = frozenset({"HS256"})
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss")
# A token larger than this is refused before it is parsed.
MAX_TOKEN_BYTES = 8 * 1024
MIN_SECRET_BYTES = 32
SECRET_FILE = "jwt_secret"
SCOPE = "live:read"
# Secrets seen in tutorials and defaults; lower-cased, separators kept.
WELL_KNOWN_SECRETS = frozenset(
    {
        "secret",
        "secretkey",
        "secret_key",
        "secret-key",
        "mysecret",
        "supersecret",
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "password",
        "jwt_secret",
        "jwt-secret",
        "jwtsecret",
        "jwt_secret_key",
        "your-256-bit-secret",
        "your-secret-key",
        "your_secret_key",
        "default",
        "test",
        "example",
    }
)
_REASON_TEXT = {
    "missing": "token missing",
    "malformed": "token malformed",
    "too_large": "token too large",
    "bad_signature": "token signature invalid",
    "expired": "token expired",
    "not_yet_valid": "token not yet valid",
    "wrong_audience": "token audience wrong",
    "wrong_issuer": "token issuer wrong",
    "algorithm": "token algorithm not accepted",
    "missing_claim": "token claim missing",
}
# Most specific first: several of these subclass one another.
_PYJWT_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.exceptions.InvalidSubjectError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "algorithm"),
    (jwt.InvalidKeyError, "algorithm"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.PyJWTError, "malformed"),
]


class TokenError(Exception):
    """A live-channel token was refused; `reason` says why, in one word.

    The message is a short phrase fit for a WebSocket close reason; it never
    holds the token or any part of it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(_REASON_TEXT.get(reason, "token invalid"))
        self.reason = reason


class TokenAuthority:
    """Issues HS256 tokens and verifies tokens with pinned algorithms and claims.

    HS256 tokens are checked with the secret only; RS256/ES256 tokens with
    the public key only, so a token cannot pick which key checks it (an HS256
    token "signed" with the public key text is refused).
    """

    def __init__(
        self,
        *,
        secret: str | None,
        public_key: str | None,
        algorithms: list[str],
        issuer: str,
        audience: str,
        lifetime_s: int,
        leeway_s: int = 5,
    ) -> None:
        unknown = sorted(set(algorithms) - SUPPORTED_ALGORITHMS)
        if not algorithms or unknown:
            raise ValueError(
                f"JWT algorithms {unknown or algorithms!r} are not accepted; "
                f"configure one or more of {sorted(SUPPORTED_ALGORITHMS)} in "
                "DagStudioApp.jwt_algorithms"
            )
        if lifetime_s < 1 or leeway_s < 0:
            raise ValueError(
                f"token lifetime must be 1 s or more and leeway 0 s or more, got "
                f"{lifetime_s} s and {leeway_s} s"
            )
        self.algorithms = list(algorithms)
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s
        self.leeway_s = leeway_s
        self._hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
        self._asymmetric = [a for a in algorithms if a in ASYMMETRIC_ALGORITHMS]
        self._secret = _checked_secret(secret) if secret is not None else None
        self._public_key = _load_public_key(public_key) if public_key else None
        if self._hmac and self._secret is None:
            raise ValueError(
                "HS256 is configured but no JWT secret is set; set DagStudioApp."
                "jwt_secret or JWT_SECRET_KEY, or let the server generate one"
            )
        if self._asymmetric:
            self._check_public_key()

    def _check_public_key(self) -> None:
        if not has_crypto:
            raise ValueError(
                f"{'/'.join(self._asymmetric)} tokens need the cryptography package; "
                "install it with: pip install 'pyjwt[crypto]'"
            )
        if self._public_key is None:
            raise ValueError(
                f"{'/'.join(self._asymmetric)} is configured but no public key is "
                "set; set DagStudioApp.jwt_public_key to PEM text or a PEM file path"
            )
        for name in self._asymmetric:
            try:
                jwt.get_algorithm_by_name(name).prepare_key(self._public_key)
            except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
                raise ValueError(
                    f"DagStudioApp.jwt_public_key is not a PEM public key usable "
                    f"with {name}: {exc}"
                ) from exc

    def issue(self, user: str) -> dict[str, Any]:
        """Sign a token for `user`; returns its text, expiry time and lifetime."""
        if not self._hmac or self._secret is None:
            raise RuntimeError(
                "this server cannot issue live-channel tokens: issuing needs HS256 "
                "in DagStudioApp.jwt_algorithms and a secret"
            )
        now = int(time.time())
        expires = now + self.lifetime_s
        claims = {
            "sub": user,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "scope": SCOPE,
            "jti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        expires_at = datetime.fromtimestamp(expires, UTC)
        return {
            "token": token,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
            "expires_in": self.lifetime_s,
        }

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid token; raise `TokenError` otherwise."""
        if not token or not isinstance(token, str):
            raise TokenError("missing")
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError("too_large")
        key, algorithms = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            reason = next(r for kind, r in _PYJWT_REASONS if isinstance(exc, kind))
            # Not chained: pyjwt's text may quote parts of the token.
            raise TokenError(reason) from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("missing_claim")
        # RFC 7519 times are numbers; pyjwt also takes digits in a string.
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise TokenError("malformed")
        return claims

    def _key_for(self, token: str) -> tuple[Any, list[str]]:
        """The key and algorithms allowed for the algorithm the token names."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed") from None
        alg = header.get("alg")
        if alg in self._hmac:
            return self._secret, list(self._hmac)
        if alg in self._asymmetric:
            return self._public_key, list(self._asymmetric)
        raise TokenError("algorithm")


def _checked_secret(secret: str) -> str:
    """Refuse a secret that is guessable; the message never quotes it."""
    folded = secret.strip().lower()
    if folded in WELL_KNOWN_SECRETS:
        raise ValueError(
            "the JWT secret is a well-known placeholder value; generate a random "
            'one, e.g. with `python -c "import secrets; print(secrets.token_urlsafe'
            '(64))"`, or unset it to have the server generate one'
        )
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the JWT secret is {len(secret.encode())} bytes; it must be at least "
            f'{MIN_SECRET_BYTES} random bytes (e.g. `python -c "import secrets; '
            'print(secrets.token_urlsafe(64))"`), or unset it to have the server '
            "generate one"
        )
    if _is_repetition(secret):
        raise ValueError(
            "the JWT secret repeats one short pattern over and over; use a random "
            'secret, e.g. from `python -c "import secrets; print(secrets.'
            'token_urlsafe(64))"`'
        )
    return secret


def _is_repetition(secret: str) -> bool:
    """True for 'aaaa…', 'abcabc…' and the like: a unit of up to 8 repeated."""
    for size in range(1, 9):
        unit = secret[:size]
        if (unit * (len(secret) // size + 1))[: len(secret)] == secret:
            return True
    return False


def _load_public_key(value: str) -> str:
    """PEM text as given, or read from the file `value` names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"DagStudioApp.jwt_public_key is neither PEM text nor a readable PEM "
            f"file: {path}: {exc}"
        ) from exc


def load_or_create_secret(directory: Path) -> str:
    """The HS256 secret kept in `directory/jwt_secret`, created on first use.

    The directory is made owner-only (0700) when created, the file is written
    0600, and an existing file that others may read is tightened to 0600.
    """
    directory = Path(directory)
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    path = directory / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(64)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:  # another server created it meanwhile
        return _read_secret(path)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret + "\n")
        file.flush()
        os.fsync(file.fileno())
    log.info("generated a new live-channel token secret in %s", path)
    return secret


def _read_secret(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning(
            "%s was readable by group or others (mode %o); tightened it to 0600",
            path,
            mode,
        )
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(
            f"{path} is empty; delete it to have a new secret generated at start-up"
        )
    return secret
