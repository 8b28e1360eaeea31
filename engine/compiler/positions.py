"""Map a character of a YAML scalar's value back to its line and column in the file.

A diagnostic about part of a value (an expression's unknown name, a template's syntax
error) points at that character. The value is what YAML made of the text: a block
scalar's indentation removed, lines folded into spaces, a quoted scalar's escapes
(`\\n`, `\\x41`, `''`) turned into single characters. These functions walk the text
the way the YAML reader did, so the position lands on the character itself.
"""

from __future__ import annotations

# Why: `\x41`, `\u0041` and `\U00000041` are 4, 6 and 10 characters of text for one of value.
_HEX_ESCAPE = {"x": 4, "u": 6, "U": 10}


def folded(lines: list[str], row: int, offset: int) -> tuple[int, int]:
    """Line/col of character `offset` of a folded block scalar (`>`) starting at `row`.

    Folding turned each line break between the body's lines into one space (a blank
    line into a newline), so each line takes its text plus one character.
    """
    remaining = offset
    while 0 < row <= len(lines):
        body = lines[row - 1]
        indent = len(body) - len(body.lstrip(" "))
        width = len(body) - indent
        if remaining <= width or row == len(lines):
            return row, indent + 1 + min(remaining, width)
        remaining -= width + 1
        row += 1
    return max(row - 1, 1), 1


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _width(text: str, at: int, quote: str) -> int:
    """Return how many characters of text the value character at `text[at]` takes."""
    if quote == "'":
        return 2 if text[at : at + 2] == "''" else 1
    if text[at] != "\\":
        return 1
    return _HEX_ESCAPE.get(text[at + 1 : at + 2], 2)


def quoted(lines: list[str], row: int, col: int, offset: int) -> tuple[int, int]:
    """Line/col of character `offset` of the quoted scalar whose opening quote is at row/col.

    An offset past the value's end gives the closing quote; one that falls on folded
    white space gives the next character of text.
    """
    r, c = row - 1, col
    quote = lines[r][col - 1 : col] if 0 <= r < len(lines) else ""
    produced, escaped_break = 0, False
    while r < len(lines):
        text = lines[r]
        if c >= len(text):
            # A line break: one space, or a newline for each blank line after it; none
            # after a backslash. The next line's indentation is not part of the value.
            r += 1
            blanks = 0
            while r < len(lines) and not lines[r].strip(" \t"):
                blanks, r = blanks + 1, r + 1
            if r >= len(lines):
                break
            produced += blanks if blanks or escaped_break else 1
            escaped_break, c = False, _indent(lines[r])
            if produced > offset:
                return r + 1, c + 1
            continue
        if text[c] in " \t":
            end = c + _indent(text[c:])
            if end < len(text):  # white space at the end of a line is dropped
                if produced + end - c > offset:
                    return r + 1, c + offset - produced + 1
                produced += end - c
            c = end
            continue
        if quote == '"' and text[c] == "\\" and c + 1 >= len(text):
            escaped_break, c = True, len(text)
            continue
        if produced >= offset or (text[c] == quote and _width(text, c, quote) == 1):
            return r + 1, c + 1
        c += _width(text, c, quote)
        produced += 1
    return row, col
