"""The vault and its keyring: sealing, blind indexes, key files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from rempart.vault import Keyring, KeyringError, TamperedCiphertext, Vault, VaultError


@pytest.fixture
def vault() -> Vault:
    return Vault(Keyring.generate())


def test_seal_round_trip_and_ciphertext_hides_plaintext(vault: Vault) -> None:
    blob = vault.seal(["1840176451089", "DUPONT"], kind=b"person", row_token=b"row-1")
    assert b"DUPONT" not in blob
    assert b"1840176451089" not in blob
    assert vault.open(blob, version=1, kind=b"person", row_token=b"row-1") == [
        "1840176451089", "DUPONT"]


def test_sealing_twice_gives_different_ciphertexts(vault: Vault) -> None:
    first = vault.seal(["same"], kind=b"k", row_token=b"r")
    assert first != vault.seal(["same"], kind=b"k", row_token=b"r")


@pytest.mark.parametrize(("kind", "row"), [(b"person", b"row-2"), (b"contract", b"row-1")])
def test_ciphertext_moved_to_another_row_or_kind_fails(vault: Vault, kind: bytes,
                                                       row: bytes) -> None:
    blob = vault.seal(["x"], kind=b"person", row_token=b"row-1")
    with pytest.raises(TamperedCiphertext):
        vault.open(blob, version=1, kind=kind, row_token=row)


def test_altered_ciphertext_fails(vault: Vault) -> None:
    blob = bytearray(vault.seal(["x"], kind=b"k", row_token=b"r"))
    blob[-1] ^= 1
    with pytest.raises(TamperedCiphertext):
        vault.open(bytes(blob), version=1, kind=b"k", row_token=b"r")


def test_other_keyring_cannot_open(vault: Vault) -> None:
    blob = vault.seal(["x"], kind=b"k", row_token=b"r")
    with pytest.raises(TamperedCiphertext):
        Vault(Keyring.generate()).open(blob, version=1, kind=b"k", row_token=b"r")


def test_reserved_separator_is_refused(vault: Vault) -> None:
    with pytest.raises(VaultError):
        vault.seal(["a\x1fb"], kind=b"k", row_token=b"r")


def test_blind_index_is_deterministic_keyed_and_purpose_separated(vault: Vault) -> None:
    a = vault.index(b"identity", "184127645108946", "1984-12-03")
    assert a == vault.index(b"identity", "184127645108946", "1984-12-03")
    assert len(a) == 16
    assert a != vault.index(b"member", "184127645108946", "1984-12-03")
    assert a != Vault(Keyring.generate()).index(b"identity", "184127645108946", "1984-12-03")
    # field boundaries matter: ("ab", "c") is not ("a", "bc")
    assert vault.index(b"p", "ab", "c") != vault.index(b"p", "a", "bc")


def test_rotation_keeps_old_versions_readable_and_indexes_per_version() -> None:
    old = Keyring.generate()
    blob = Vault(old).seal(["x"], kind=b"k", row_token=b"r")

    new = Vault(old.with_new_version(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    assert new.current_version == 2
    assert new.open(blob, version=1, kind=b"k", row_token=b"r") == ["x"]
    candidates = new.index_candidates(b"p", "v")
    assert candidates == [Vault(old).index(b"p", "v"), new.index(b"p", "v")]


def test_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    keyring = Keyring.generate()
    keyring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = Keyring.load(path)
    assert loaded.current == 1
    assert loaded.key(1) == keyring.key(1)


def test_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(path)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="does not exist"):
        Keyring.load(tmp_path / "nope.json")


@pytest.mark.parametrize("text", ["not json", "{}", '{"format": "rempart-keyring/1"}',
                                  '{"format": "rempart-keyring/1", "current": 1, '
                                  '"keys": {"1": {"secret": "c2hvcnQ="}}}'])
def test_malformed_keyring_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(KeyringError):
        Keyring.load(path)


def test_keyring_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = Keyring.generate()
    monkeypatch.setenv("REMPART_KEYRING", keyring.to_json())
    assert Keyring.load(None).key(1) == keyring.key(1)
    assert json.loads(keyring.to_json())["current"] == 1


def test_batch_indexes_are_hmac_sha256_as_index_computes_them(vault: Vault) -> None:
    import hmac

    records = [("1840176451089", "1984-01-07"), ("2", ""), ("é", "x" * 200)]
    key = vault.keyring.current_key().index_key
    expected = [hmac.digest(key, b"purpose\x00" + "\x1f".join(r).encode(), "sha256")[:16]
                for r in records]
    assert vault.indexes(b"purpose", records) == expected
    assert [vault.index(b"purpose", *r) for r in records] == expected


def test_batch_seals_open_for_their_own_row_only(vault: Vault) -> None:
    blobs = vault.seal_many([["a", "b"], ["c"]], kind=b"k", row_tokens=[b"r1", b"r2"])
    assert vault.open(blobs[0], version=1, kind=b"k", row_token=b"r1") == ["a", "b"]
    assert vault.open(blobs[1], version=1, kind=b"k", row_token=b"r2") == ["c"]
    assert blobs[0][:12] != blobs[1][:12]  # a nonce of its own
    with pytest.raises(TamperedCiphertext):
        vault.open(blobs[1], version=1, kind=b"k", row_token=b"r1")


def test_a_field_holding_the_separator_is_refused(vault: Vault) -> None:
    with pytest.raises(VaultError):
        vault.seal_many([["ok"], ["a\x1fb"]], kind=b"k", row_tokens=[b"r1", b"r2"])
