"""The operator's command line (Typer + Rich)."""
