"""Live-channel tokens: issue, verify, refuse, and the secret kept on disk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from dagstudio_jupyter.server import auth
from dagstudio_jupyter.server.auth import (
    TokenAuthority,
    TokenError,
    load_or_create_secret,
)

# 64 bytes: pyjwt warns about shorter HMAC keys for HS512.
SECRET = "k7Q2-vXr9Lm4Tz8Wb1Nc6Yd3Hs5Jf0Gp-Ua_Ee7Ri2OqW3eR5tY7uI9oP1aS3dF5g"
OTHER_SECRET = "Zp4Xn8Rk2Vm6Qb0Lt3Wc7Hy1Js5Df9Ga-Ue_Io2Pr6TqA2wS4eD6rF8tG0yH2uJ4k"


def make_authority(**changes: Any) -> TokenAuthority:
    options: dict[str, Any] = {
        "secret": SECRET,
        "public_key": None,
        "algorithms": ["HS256"],
        "issuer": "dagstudio",
        "audience": "dagstudio-live",
        "lifetime_s": 900,
    }
    options.update(changes)
    return TokenAuthority(**options)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "alice",
        "iss": "dagstudio",
        "aud": "dagstudio-live",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], body: dict[str, Any], key: bytes) -> str:
    """A token signed with HMAC-SHA256 by hand (pyjwt refuses PEM keys for HMAC)."""
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_token_authority_issue_round_trips_through_verify() -> None:
    authority = make_authority()

    issued = authority.issue("alice")
    verified = authority.verify(issued["token"])

    assert verified["sub"] == "alice"
    assert verified["iss"] == "dagstudio"
    assert verified["aud"] == "dagstudio-live"
    assert verified["scope"] == "live:read"
    assert verified["exp"] - verified["iat"] == 900
    assert verified["nbf"] == verified["iat"]
    assert issued["expires_in"] == 900
    assert issued["expires_at"].endswith("Z")
    assert jwt.get_unverified_header(issued["token"])["alg"] == "HS256"


def test_token_authority_issue_gives_each_token_its_own_jti() -> None:
    authority = make_authority()

    first, second = (authority.verify(authority.issue("a")["token"]) for _ in range(2))

    assert first["jti"] != second["jti"]
    assert len(first["jti"]) >= 16


def test_token_authority_verify_accepts_expiry_within_leeway() -> None:
    now = int(time.time())
    token = jwt.encode(claims(iat=now - 60, nbf=now - 60, exp=now - 2), SECRET)

    assert make_authority(leeway_s=5).verify(token)["sub"] == "alice"


def unsigned_token() -> str:
    """A token with `alg: none` and no signature."""
    header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
    return f"{b64(header)}.{b64(json.dumps(claims()).encode())}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "missing"),
        (None, "missing"),
        ("not-a-token", "malformed"),
        ("a.b.c", "malformed"),
        ("x" * (8 * 1024 + 1), "too_large"),
        (jwt.encode(claims(), OTHER_SECRET), "bad_signature"),
        (jwt.encode(claims(exp=1, iat=0, nbf=0), SECRET), "expired"),
        (jwt.encode(claims(nbf=int(time.time()) + 600), SECRET), "not_yet_valid"),
        (jwt.encode(claims(iat=int(time.time()) + 600), SECRET), "not_yet_valid"),
        (jwt.encode(claims(aud="jupyterhub"), SECRET), "wrong_audience"),
        (jwt.encode(claims(iss="someone-else"), SECRET), "wrong_issuer"),
        (jwt.encode(claims(), SECRET, algorithm="HS512"), "algorithm"),
        (unsigned_token(), "algorithm"),
        (jwt.encode(claims(exp=None), SECRET), "missing_claim"),
        (jwt.encode(claims(sub=None), SECRET), "missing_claim"),
        (jwt.encode(claims(iat=None), SECRET), "missing_claim"),
        (jwt.encode(claims(aud=None), SECRET), "missing_claim"),
        (jwt.encode(claims(iss=None), SECRET), "missing_claim"),
        (jwt.encode(claims(sub=""), SECRET), "missing_claim"),
        # RFC 7519 times are numbers, not digits in a string.
        (jwt.encode(claims(exp=str(int(time.time()) + 600)), SECRET), "malformed"),
        (jwt.encode(claims(iat=str(int(time.time()))), SECRET), "malformed"),
    ],
)
def test_token_authority_verify_refuses_with_reason(token: Any, reason: str) -> None:
    with pytest.raises(TokenError) as info:
        make_authority().verify(token)

    assert info.value.reason == reason
    assert not token or token not in str(info.value)
    assert info.value.__cause__ is None


def test_token_error_message_is_short_and_names_no_token() -> None:
    token = jwt.encode(claims(exp=1, iat=0, nbf=0), SECRET)

    with pytest.raises(TokenError, match=r"^token expired$") as info:
        make_authority().verify(token)

    assert len(str(info.value).encode()) < 123  # fits a WebSocket close reason


def test_token_authority_issue_refuses_when_hs256_is_not_configured() -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    public_pem = rsa_public_pem(rsa.generate_private_key(65537, 2048))
    authority = make_authority(secret=None, public_key=public_pem, algorithms=["RS256"])

    with pytest.raises(RuntimeError, match="HS256"):
        authority.issue("alice")


@pytest.mark.parametrize(
    "changes",
    [
        {"algorithms": ["none"]},
        {"algorithms": []},
        {"algorithms": ["HS256", "HS512"]},
        {"secret": None},
        {"lifetime_s": 0},
    ],
)
def test_token_authority_refuses_bad_configuration(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_authority(**changes)


def test_token_authority_refuses_asymmetric_algorithm_when_crypto_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "has_crypto", False)

    with pytest.raises(ValueError, match=r"pip install 'pyjwt\[crypto\]'"):
        make_authority(public_key="-----BEGIN PUBLIC KEY-----\n", algorithms=["RS256"])


@pytest.mark.parametrize(
    "secret",
    ["Secret", "changeme", "password", "jwt_secret", "your-256-bit-secret", "CHANGEME"],
)
def test_token_authority_refuses_well_known_secret_without_quoting_it(
    secret: str,
) -> None:
    with pytest.raises(ValueError, match="well-known") as info:
        make_authority(secret=secret)

    assert secret not in str(info.value)


@pytest.mark.parametrize(
    "secret",
    [
        "Xq9-short-random",
        "a" * 64,
        "ab" * 32,
        "Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7Zx7",
    ],
)
def test_token_authority_refuses_weak_secret_without_quoting_it(secret: str) -> None:
    with pytest.raises(ValueError, match="secret") as info:
        make_authority(secret=secret)

    assert secret not in str(info.value)
    assert secret[:8] not in str(info.value)


def test_token_authority_refuses_short_secret_saying_how_long_it_must_be() -> None:
    with pytest.raises(ValueError, match="at least 32") as info:
        make_authority(secret="Xq9-short-random")

    assert "token_urlsafe" in str(info.value)


# -- key confusion (RS256 with a public key) --------------------------------


def rsa_public_pem(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        private_key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )


@pytest.fixture
def dagstudio_rsa() -> tuple[Any, str]:
    """An RSA private key and its public key as PEM text."""
    rsa = pytest.importorskip(
        "cryptography.hazmat.primitives.asymmetric.rsa",
        reason="RS256 needs cryptography: add pyjwt[crypto] to the test extras",
    )
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_key, rsa_public_pem(private_key)


def test_token_authority_verify_accepts_rs256_token_signed_with_private_key(
    dagstudio_rsa: tuple[Any, str],
) -> None:
    private_key, public_pem = dagstudio_rsa
    authority = make_authority(secret=None, public_key=public_pem, algorithms=["RS256"])

    token = jwt.encode(claims(), private_key, algorithm="RS256")

    assert authority.verify(token)["sub"] == "alice"


@pytest.mark.parametrize(
    ("algorithms", "reason"),
    [(["RS256"], "algorithm"), (["HS256", "RS256"], "bad_signature")],
)
def test_token_authority_verify_refuses_hs256_token_keyed_with_public_key(
    dagstudio_rsa: tuple[Any, str], algorithms: list[str], reason: str
) -> None:
    _, public_pem = dagstudio_rsa
    authority = make_authority(public_key=public_pem, algorithms=algorithms)
    forged = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(), public_pem.encode())

    with pytest.raises(TokenError) as info:
        authority.verify(forged)

    assert info.value.reason == reason


def test_token_authority_reads_public_key_from_a_pem_file(
    dagstudio_rsa: tuple[Any, str], tmp_path: Path
) -> None:
    private_key, public_pem = dagstudio_rsa
    path = tmp_path / "issuer.pem"
    path.write_text(public_pem)
    authority = make_authority(secret=None, public_key=str(path), algorithms=["RS256"])

    token = jwt.encode(claims(), private_key, algorithm="RS256")

    assert authority.verify(token)["sub"] == "alice"


def test_token_authority_refuses_public_key_path_that_does_not_exist(
    tmp_path: Path,
) -> None:
    pytest.importorskip("cryptography")

    with pytest.raises(ValueError, match="neither PEM text nor a readable PEM file"):
        make_authority(public_key=str(tmp_path / "absent.pem"), algorithms=["RS256"])


# -- the secret file ----------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_load_or_create_secret_creates_owner_only_file_and_reuses_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "data" / "dagstudio"

    first = load_or_create_secret(directory)
    second = load_or_create_secret(directory)

    assert first == second
    assert len(first) >= 64
    assert mode(directory) == 0o700
    assert mode(directory / "jwt_secret") == 0o600
    make_authority(secret=first)  # strong enough to be accepted


def test_load_or_create_secret_tightens_loose_permissions_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jwt_secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger=auth.__name__):
        secret = load_or_create_secret(tmp_path)

    assert secret == SECRET
    assert mode(path) == 0o600
    assert "tightened it to 0600" in caplog.text
    assert SECRET not in caplog.text


def test_load_or_create_secret_refuses_empty_file(tmp_path: Path) -> None:
    (tmp_path / "jwt_secret").write_text("\n")

    with pytest.raises(ValueError, match="is empty"):
        load_or_create_secret(tmp_path)
