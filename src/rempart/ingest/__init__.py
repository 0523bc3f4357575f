"""Loading insurer and provider files: validation, all-or-nothing application."""
