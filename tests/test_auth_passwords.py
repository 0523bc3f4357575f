"""Passwords: Argon2id hashing, rehash on parameter change, the policy and the blocklist."""

from __future__ import annotations

import hashlib
import string
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rempart.auth.blocklist import DATA_FILE, PrefixFile, is_listed
from rempart.auth.config import AuthSettings
from rempart.auth.errors import WeakPassword
from rempart.auth.passwords import PasswordHasher, PasswordPolicy

FAST = AuthSettings(argon2_time_cost=1, argon2_memory_kib=8192)


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(AuthSettings())


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(AuthSettings())


def test_hash_is_argon2id_with_the_documented_owasp_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(stored, "a long enough passphrase").ok
    assert not hasher.verify(stored, "a long enough passphrasE").ok


def test_two_hashes_of_one_password_differ(hasher: PasswordHasher) -> None:
    assert hasher.hash("same password here") != hasher.hash("same password here")


def test_a_hash_made_with_older_parameters_is_upgraded_on_verify(
        hasher: PasswordHasher) -> None:
    old = PasswordHasher(FAST).hash("upgrade me please")
    result = hasher.verify(old, "upgrade me please")
    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    again = hasher.verify(result.new_hash, "upgrade me please")
    assert again.ok
    assert again.new_hash is None


def test_a_wrong_password_never_triggers_a_rehash(hasher: PasswordHasher) -> None:
    old = PasswordHasher(FAST).hash("upgrade me please")
    result = hasher.verify(old, "not the password")
    assert not result.ok
    assert result.new_hash is None


def test_unknown_login_runs_a_real_argon2_verification() -> None:
    """No stored hash: the same Argon2 work is done (timing), and it fails."""

    class Counting(PasswordHasher):
        checks = 0

        def _check(self, stored: str, password: str) -> bool:
            Counting.checks += 1
            assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
            return super()._check(stored, password)

    counting = Counting(AuthSettings())
    assert counting.verify(None, "rempart-dummy-password-for-timing").ok is False
    assert Counting.checks == 1


def test_a_malformed_stored_hash_fails_closed(hasher: PasswordHasher) -> None:
    assert not hasher.verify("not-a-hash", "whatever password").ok


def test_unicode_passwords_are_compared_after_nfkc(hasher: PasswordHasher) -> None:
    composed = "mot de passe très sûr"
    decomposed = "mot de passe tre\u0300s su\u0302r"
    assert hasher.verify(hasher.hash(composed), decomposed).ok


@pytest.mark.parametrize(("password", "reason"), [
    ("short pass1", "too_short"),
    ("x" * 257, "too_long"),
    ("abababababababab", "repetitive"),
    ("qwertyasdfgh", "common"),
    ("1q2w3e4r5t6y", "common"),
    ("Password123456", "common"),  # the list's "password123456", any case
    ("azertyuiop123", "common"),  # French keyboard walk padded to the length rule
    ("motdepasse2024", "common"),
    ("rempart-2024!", "context"),
    ("marie.dupont2024", "context"),
])
def test_policy_refuses(policy: PasswordPolicy, password: str, reason: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        policy.check(password, login="marie.dupont@pharmacie.example")
    assert caught.value.reason == reason
    assert password not in str(caught.value)


def test_policy_accepts_a_long_passphrase_without_composition_rules(
        policy: PasswordPolicy) -> None:
    policy.check("correct horse battery staple", login="marie@pharmacie.example")
    policy.check("lowercase only but long enough", login="")


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=11))
def test_anything_shorter_than_twelve_characters_is_refused(
        policy: PasswordPolicy, password: str) -> None:
    with pytest.raises(WeakPassword):
        policy.check(password)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=20, max_size=40))
def test_random_long_passwords_pass(policy: PasswordPolicy, password: str) -> None:
    if len(set(password)) >= 3:
        policy.check(password)


def test_shipped_blocklist_is_small_and_shaped_like_the_range_api() -> None:
    data = resources.files("rempart.auth.data").joinpath(DATA_FILE).read_bytes()
    assert len(data) < 500 * 1024
    lines = [line for line in data.decode().splitlines() if not line.startswith("#")]
    assert len(lines) > 15_000
    for line in lines[:200]:
        prefix, _, suffix = line.partition(":")
        assert len(prefix) == 5
        assert len(suffix) == 15
        assert all(c in "0123456789ABCDEF" for c in prefix + suffix)
    assert len(PrefixFile.shipped()) == len(set(lines))


def test_lookup_uses_only_the_bucket_named_by_the_prefix() -> None:
    """A source that only answers for one bucket, like a remote range query."""
    digest = hashlib.sha1(b"my-uncommon-but-breached-pw", usedforsecurity=False)
    hexdigest = digest.hexdigest().upper()
    asked: list[str] = []

    class OneBucket:
        def suffixes(self, prefix: str) -> frozenset[str]:
            asked.append(prefix)
            return frozenset({hexdigest[5:]}) if prefix == hexdigest[:5] else frozenset()

    assert is_listed(OneBucket(), "my-uncommon-but-breached-pw")
    assert asked == [hexdigest[:5]]
    assert not is_listed(OneBucket(), "another-password-entirely")


def test_policy_uses_the_given_range_source() -> None:
    digest = hashlib.sha1(b"the company password 1", usedforsecurity=False)
    hexdigest = digest.hexdigest().upper()

    class Breached:
        def suffixes(self, prefix: str) -> frozenset[str]:
            return frozenset({hexdigest[5:]}) if prefix == hexdigest[:5] else frozenset()

    with pytest.raises(WeakPassword) as caught:
        PasswordPolicy(AuthSettings(), Breached()).check("the company password 1")
    assert caught.value.reason == "common"
