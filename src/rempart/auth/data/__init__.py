"""Data files shipped with the authentication package."""
