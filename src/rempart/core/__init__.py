"""Pure domain core: identifiers, care categories, value objects. No I/O, no framework."""
