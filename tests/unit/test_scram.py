import base64
import hashlib
import hmac
import importlib.util
from pathlib import Path

import pytest

from core import scram

# RFC 7677, section 3: user "user", password "pencil".
RFC7677_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC7677_AUTH_MESSAGE = (
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC7677_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC7677_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def keys(verifier):
    parts = scram.VERIFIER.fullmatch(verifier)
    return base64.b64decode(parts["stored_key"]), base64.b64decode(parts["server_key"])


def test_verifier_matches_the_rfc7677_exchange():
    verifier = scram.verifier("pencil", base64.b64decode(RFC7677_SALT))
    assert verifier.startswith(f"SCRAM-SHA-256$4096:{RFC7677_SALT}$")
    stored_key, server_key = keys(verifier)
    auth = RFC7677_AUTH_MESSAGE.encode()
    # The server proves itself with ServerKey ...
    server_signature = hmac.new(server_key, auth, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == RFC7677_SERVER_SIGNATURE
    # ... and checks the client's proof against StoredKey.
    client_signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    proof = base64.b64decode(RFC7677_CLIENT_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_each_verifier_has_a_fresh_16_byte_salt():
    first, second = scram.verifier("same password"), scram.verifier("same password")
    assert first != second
    salt = scram.VERIFIER.fullmatch(first)["salt"]
    assert len(base64.b64decode(salt)) == 16


def test_matches_and_is_verifier():
    verifier = scram.verifier("correct horse")
    assert scram.is_verifier(verifier)
    assert scram.matches("correct horse", verifier)
    assert not scram.matches("correct horsE", verifier)
    assert not scram.is_verifier("correct horse")
    assert not scram.matches("x", "md5abc")


@pytest.mark.parametrize(
    "given, prepared",
    [
        ("I\u00adX", "IX"),  # RFC 4013 examples: soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # non-ASCII space mapped to space
    ],
)
def test_saslprep(given, prepared):
    assert scram.saslprep(given) == prepared


@pytest.mark.parametrize("given", ["\u0007", "a\u0627\u0031", "\ue000", "\U000e0001"])
def test_saslprep_prohibits(given):
    with pytest.raises(ValueError):
        scram.saslprep(given)


def test_prohibited_password_is_used_as_it_is():
    salt = b"0123456789abcdef"
    # PostgreSQL falls back to the raw bytes when SASLprep fails: so do we.
    raw = "pass\u0007word"
    expected = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt, 4096)
    assert scram.salted_password(raw, salt) == expected


def test_the_roles_filter_keeps_a_verifier_and_a_still_matching_password():
    # Loaded from its file, as Ansible loads a role's filter plugins.
    plugin = Path(__file__).parents[2] / "roles" / "pg_user" / "filter_plugins" / "scram.py"
    spec = importlib.util.spec_from_file_location("scram_filter", plugin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scram_verifier = module.FilterModule().filters()["scram_verifier"]
    stored = scram.verifier("sre-secret")
    assert scram_verifier(stored) == stored
    assert scram_verifier("sre-secret", stored) == stored  # running again changes nothing
    changed = scram_verifier("other-secret", stored)
    assert changed != stored and scram.matches("other-secret", changed)
    fresh = scram_verifier("sre-secret", None)
    assert scram.is_verifier(fresh) and "sre-secret" not in fresh
