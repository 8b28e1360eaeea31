"""sopflow engine package."""
