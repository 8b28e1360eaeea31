"""Parse expression source into a size-checked AST, with offsets back into the source."""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass

from engine.expr.errors import ExprIssue
from engine.expr.limits import MAX_DEPTH, MAX_NODES, MAX_SOURCE_LENGTH

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SYNTAX_HINTS = (
    (re.compile(r"(?<![=!<>])=(?!=)"), "use '==' to compare values"),
    (re.compile(r"&&|\|\|"), "use 'and' / 'or'"),
    (re.compile(r"!(?!=)"), "use 'not' to negate"),
)
# Nodes that carry no expression of their own (contexts, operators) are not counted.
_UNCOUNTED = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)


@dataclass(frozen=True)
class Parsed:
    """Hold a parsed expression and how to map its positions back to the source."""

    tree: ast.Expression | None
    text: str
    shift: int
    issues: tuple[ExprIssue, ...] = ()

    def offset(self, node: ast.AST) -> int:
        """Return the 0-based character offset of `node` in the original source."""
        return self.position(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def end_offset(self, node: ast.AST) -> int:
        """Return the 0-based character offset just after `node` in the original source."""
        lineno, col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if not isinstance(lineno, int) or not isinstance(col, int):
            return self.offset(node)
        return self.position(lineno, col)

    def position(self, lineno: int, col: int) -> int:
        """Convert a parser position (line, UTF-8 byte column) to a source offset."""
        lines = _LINE_BREAK.split(self.text)
        line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
        chars = len(line.encode()[:col].decode(errors="ignore"))
        return max(0, _line_start(self.text, lineno) + chars + self.shift)


def _line_start(text: str, lineno: int) -> int:
    start = 0
    for index, match in enumerate(_LINE_BREAK.finditer(text), start=2):
        if index > lineno:
            break
        start = match.end()
    return start


def _balanced(text: str) -> bool:
    """Tell whether brackets in `text` never close more than they opened."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth < 0:
                    return False
    except (tokenize.TokenError, SyntaxError):
        return False
    return depth == 0


def _syntax_issue(error: SyntaxError, text: str, shift: int, size: int) -> ExprIssue:
    message, _, rest = (error.msg or "invalid syntax").partition(". ")
    hint = rest.strip()
    for pattern, better in _SYNTAX_HINTS:
        if pattern.search(text):
            hint = better
            break
    lineno, col = error.lineno or 1, error.offset or 0
    offset = len(text) if col <= 0 else _line_start(text, lineno) + col - 1
    offset = max(0, min(offset + shift, size))
    return ExprIssue("syntax", message.rstrip("."), hint, offset)


def _too_large(what: str, limit: int | None = None, offset: int = 0) -> ExprIssue:
    limit_text = f"; the limit is {limit}" if limit is not None else ""
    return ExprIssue(
        "too-large",
        f"the expression {what}{limit_text}",
        "split it into named computed fields",
        offset,
    )


def _parse_strictly(text: str) -> ast.Expression:
    """Parse like ast.parse, but treat Python's SyntaxWarnings (e.g. `0in x`) as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntaxWarning)
        try:
            return ast.parse(text, mode="eval")
        except SyntaxWarning as warning:
            raise SyntaxError(str(warning)) from None


def parse(source: str) -> Parsed:
    """Parse `source` (multi-line allowed) and check its size, depth and node count."""
    if len(source) > MAX_SOURCE_LENGTH:
        issue = _too_large(f"is {len(source)} characters long", MAX_SOURCE_LENGTH)
        return Parsed(None, source, 0, (issue,))
    text = source.strip()
    lead = len(source) - len(source.lstrip())
    if not text:
        issue = ExprIssue("syntax", "the expression is empty", "write a value or a condition")
        return Parsed(None, source, 0, (issue,))
    try:
        tree, shift = _parse_strictly(text), lead
    except SyntaxError as error:
        first = _syntax_issue(error, text, lead, len(source))
        # A multi-line YAML value parses like Python inside parentheses.
        if ("\n" not in text and "\r" not in text) or not _balanced(text):
            return Parsed(None, source, 0, (first,))
        try:
            tree, shift, text = _parse_strictly(f"({text}\n)"), lead - 1, f"({text}\n)"
        except SyntaxError as wrapped:
            return Parsed(
                None, source, 0, (_syntax_issue(wrapped, f"({text}\n)", lead - 1, len(source)),)
            )
        except (RecursionError, MemoryError):
            return Parsed(None, source, 0, (_too_large("is nested too deeply"),))
    except (RecursionError, MemoryError):
        return Parsed(None, source, 0, (_too_large("is nested too deeply"),))
    except ValueError as error:  # e.g. NUL characters
        return Parsed(None, source, 0, (ExprIssue("syntax", str(error)),))
    parsed = Parsed(tree, text, shift)
    return Parsed(tree, text, shift, _size_issues(parsed))


def _size_issues(parsed: Parsed) -> tuple[ExprIssue, ...]:
    """Count nodes and measure nesting without recursion (the tree may be very deep)."""
    assert parsed.tree is not None
    deepest_node: ast.AST = parsed.tree.body
    count, deepest = 0, 0
    stack: list[tuple[ast.AST, int]] = [(parsed.tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _UNCOUNTED):
            continue
        count += 1
        if depth > deepest:
            deepest, deepest_node = depth, node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    issues = []
    if count > MAX_NODES:
        issues.append(_too_large(f"has {count} parts", MAX_NODES))
    if deepest > MAX_DEPTH:
        at = parsed.offset(deepest_node)
        issues.append(_too_large(f"is nested {deepest} levels deep", MAX_DEPTH, at))
    return tuple(issues)
