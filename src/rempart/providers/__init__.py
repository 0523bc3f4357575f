"""Provider organisations and the professionals who work in them."""
