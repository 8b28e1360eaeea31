"""python -m tests.fuzz TARGET ...: see runner.py and docs/testing.md ("Fuzzing")."""

from __future__ import annotations

import sys

from .runner import main

sys.exit(main())
