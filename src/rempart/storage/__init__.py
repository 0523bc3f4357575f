"""Storage: engines, the declarative base, migrations."""
