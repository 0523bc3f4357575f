"""Settings for a test instance in a directory (shared by conftest and tests)."""

from __future__ import annotations

from pathlib import Path

from rempart.settings import Settings


def sqlite_settings(data_dir: Path) -> Settings:
    return Settings.load(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'rempart.db'}",
                         key_file=data_dir / "keyring.json")
