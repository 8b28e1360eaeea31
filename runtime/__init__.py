"""sopflow runtime package."""
