"""S7: what a thief learns from a copy of the database files without the key file.

Two attacks: (1) search the raw bytes of every copied file for each person's NIR, names
and date of birth in the encodings one could think of (UTF-8, UTF-16 LE/BE, hex, base64
at every alignment, several date layouts); (2) a blind-index dictionary attack: compute
the identity index of plausible (NIR, date of birth) pairs under guessed keys and look
them up in the copy. An identity counts as recovered when its NIR is found or its index
is matched; surnames and dates found are reported beside, not counted, since they occur by
coincidence too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rempart.drill.truth import Person
from rempart.population.sealing import identity_index
from rempart.vault.keyring import Keyring
from rempart.vault.vault import Vault

GUESSED_PASSPHRASES = ("", "rempart", "password", "changeme", "secret", "admin", "123456",
                       "viamedis", "almerys", "test")


_DIGITS = re.compile(rb"[0-9AB]{8,}")
_WORDS = re.compile(rb"[A-Za-z\x80-\xff'-]{2,}")
_DATES = re.compile(rb"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}")
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2}){6,}")
_B64 = re.compile(rb"[A-Za-z0-9+/]{12,}={0,2}")


def _texts(blob: bytes) -> list[bytes]:
    """The blob as a searcher would read it: raw, as UTF-16 both ways, and with every
    hex or base64 run decoded."""
    texts = [blob]
    for codec in ("utf-16-le", "utf-16-be"):
        for offset in (0, 1):
            texts.append(blob[offset:].decode(codec, "ignore").encode("utf-8", "ignore"))
    for run in _HEX.findall(blob):
        texts.append(bytes.fromhex(run.decode("ascii")))
    for run in _B64.findall(blob):
        for skip in range(4):
            body = run[skip:]
            body = body[: len(body) - len(body) % 4]
            try:
                texts.append(base64.b64decode(body, validate=True))
            except ValueError:
                continue
    return texts


def _tokens(blob: bytes) -> set[str]:
    """Every digit run (and its 13- and 15-long windows), word and date in the texts."""
    found: set[str] = set()
    for text in _texts(blob):
        for run in _DIGITS.findall(text):
            digits = run.decode("ascii")
            found.add(digits)
            for width in (8, 13, 15):
                found.update(digits[i:i + width] for i in range(len(digits) - width + 1))
        for word in _WORDS.findall(text):
            found.add(word.decode("utf-8", "ignore").upper())
        found.update(match.decode("ascii") for match in _DATES.findall(text))
    return found


def _dates(day: dt.date) -> list[str]:
    return [day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%Y%m%d"),
            day.strftime("%d%m%Y")]


def guessed_keys() -> list[Keyring]:
    keys = [bytes(32), b"\xff" * 32]
    keys += [hashlib.sha256(p.encode()).digest() for p in GUESSED_PASSPHRASES]
    return [Keyring({1: key}, 1) for key in keys]


def _plausible_dates(nir: str) -> list[dt.date]:
    """A NIR gives the year and month of birth; the day is guessed."""
    try:
        year, month = int(nir[1:3]), int(nir[3:5])
    except ValueError:
        return []
    if not 1 <= month <= 12:
        return []
    dates = []
    for century in (1900, 2000):
        for day in range(1, 32):
            try:
                dates.append(dt.date(century + year, month, day))
            except ValueError:
                continue
    return dates


@dataclass(frozen=True)
class StolenCopyResult:
    people: int
    nir_found: int
    last_name_found: int
    birth_date_found: int
    index_matches: int
    recovered: int
    files: int
    bytes_searched: int
    keys_guessed: int
    index_guesses: int

    def score(self) -> dict[str, object]:
        return {"records_disclosed": self.recovered, "records_attempted": self.people,
                "accounts_used": 0, "time_to_detect_s": None, "time_to_contain_s": None,
                "nir_found": self.nir_found,
                "last_name_found": self.last_name_found,
                "birth_date_found": self.birth_date_found,
                "blind_index_matches": self.index_matches, "files_copied": self.files,
                "bytes_searched": self.bytes_searched, "keys_guessed": self.keys_guessed,
                "index_guesses": self.index_guesses}


def run_stolen_copy(*, files: list[Path], people: list[Person],
                    dictionary_people: int = 300) -> StolenCopyResult:
    """`files`: the copied database (and its WAL and backups), never the key file."""
    blob = b"".join(path.read_bytes() for path in files if path.exists())
    tokens = _tokens(blob)
    nir_hits = {p.key for p in people if p.nir in tokens or p.nir[:13] in tokens}
    # Names and dates alone are reported, not counted: common surnames and dates occur
    # by coincidence (organisation names, contract dates kept in clear).
    name_hits = {p.key for p in people if p.last_name and p.last_name.upper() in tokens}
    date_hits = {p.key for p in people if any(d in tokens for d in _dates(p.birth_date))}
    stored = _identity_indexes(files[0])
    index_hits: set[str] = set()
    guesses = 0
    keyrings = guessed_keys()
    for keyring in keyrings:
        vault = Vault(keyring)
        for person in people[:dictionary_people]:
            for day in _plausible_dates(person.nir):
                guesses += 1
                if identity_index(vault, person.nir, day) in stored:
                    index_hits.add(person.key)
    recovered = nir_hits | index_hits
    return StolenCopyResult(
        people=len(people), nir_found=len(nir_hits),
        last_name_found=len(name_hits), birth_date_found=len(date_hits),
        index_matches=len(index_hits),
        recovered=len(recovered), files=sum(1 for p in files if p.exists()),
        bytes_searched=len(blob), keys_guessed=len(keyrings), index_guesses=guesses)


def _identity_indexes(database: Path) -> set[bytes]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return {bytes(row[0]) for row in conn.execute("SELECT identity_idx FROM beneficiaries")}
