"""Engine limits of the expression language (not business numbers)."""

from __future__ import annotations

from typing import Final

import simpleeval

# Longest expression source, in characters. An expression is one line of business
# logic in a YAML value; anything longer is a misplaced program, and the cap bounds
# parse time before any other check runs.
MAX_SOURCE_LENGTH: Final = 4000

# Most AST nodes in one expression. Bounds checking and code-generation time and the
# size of the generated function.
MAX_NODES: Final = 1000

# Deepest nesting of sub-expressions. A 40-term sum nests 40 deep, so this leaves room
# for real formulas while keeping the recursive checker, the code generator and
# CPython's compiler far below the interpreter's recursion limit.
MAX_DEPTH: Final = 100

# Longest text literal. Long texts belong in a reference table, not in an expression.
MAX_STRING_LITERAL: Final = 1000

# Largest integer literal (magnitude). Anything beyond a signed 64-bit integer is not
# a business quantity and could not be stored in an integer column anyway.
MAX_INT_LITERAL: Final = 2**63 - 1

# Longest regular expression given to matches(). Keeps regex compilation cheap and
# patterns reviewable (Python's re has no matching timeout).
MAX_REGEX_LENGTH: Final = 200

# Longest text or list an operation may build at run time ('x' * n, a + b). Reused
# from simpleeval, whose safe_mult/safe_add enforce it.
MAX_STRING_LENGTH: Final[int] = simpleeval.MAX_STRING_LENGTH

# Most items one comprehension may loop over at run time. Reused from simpleeval; the
# loop input is checked once per comprehension, so the happy path stays a plain loop.
MAX_COMPREHENSION_LENGTH: Final[int] = simpleeval.MAX_COMPREHENSION_LENGTH

# Deepest nesting of comprehensions (a loop inside a loop). Each level multiplies the
# work by up to MAX_COMPREHENSION_LENGTH; two levels cover "any tag of any contact".
MAX_COMPREHENSION_NESTING: Final = 2

# Most steps one evaluation may take: every item a loop visits and every item a list
# function (sum, count, min, max, any, all, contains, 'in') reads inside a loop. Sizes
# alone allow two nested loops of 10000 items (10**8 steps, 18 s); this stops any
# evaluation after about 0.2 s of work. A loop counts its whole input when it starts.
MAX_EVALUATION_STEPS: Final = 1_000_000

# Largest base and exponent of an integer power. Reused from simpleeval's safe_power.
MAX_POWER: Final[int] = simpleeval.MAX_POWER

# Largest integer a power may produce, in bits. simpleeval's MAX_POWER alone still
# allows 4000000 ** 4000000 (an 11 MB integer); 1024 bits is far beyond any business
# number and keeps every power to microseconds.
MAX_POWER_RESULT_BITS: Final = 1024

# Name prefixes that are never allowed (names, fields, loop variables). Reused from
# simpleeval: '_' blocks dunders such as __class__ and __import__.
DISALLOW_PREFIXES: Final[tuple[str, ...]] = tuple(simpleeval.DISALLOW_PREFIXES)

# Reference-table indexes kept between compilations (keyed by table identity). Bounds
# memory across many reloads; one bundle has far fewer tables than this.
TABLE_INDEX_CACHE: Final = 256

# Longest excerpt of the source quoted in a message (STYLE: inputs shortened to 50).
MAX_QUOTE: Final = 50
