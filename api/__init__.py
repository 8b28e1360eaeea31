"""sopflow api package."""
