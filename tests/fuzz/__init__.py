"""Coverage-guided fuzzing of the YAML loader, the expression and template compilers and a
whole bundle compile (docs/testing.md, "Fuzzing")."""
