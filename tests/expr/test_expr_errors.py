"""Golden tests: every compile-time issue code, with its exact message, hint and offset."""

from __future__ import annotations

import pytest
from expr_scopes import CONTEXT, NO_NOW, SCOPE, SMALL

from engine.expr import (
    ExpressionError,
    ExprIssue,
    ExprType,
    Scope,
    check_expression,
    compile_expression,
    compile_group,
)

PREFIX = "names must not start with '_' or 'func_'"
SPLIT = "split it into named computed fields"

# (source, [(code, message, hint, offset), ...]) against SCOPE
GOLDEN: list[tuple[str, list[tuple[str, str, str, int]]]] = [
    # syntax
    ("tier = 'VIP'", [("syntax", "invalid syntax", "use '==' to compare values", 5)]),
    ("score > 1 && tier == 'VIP'", [("syntax", "invalid syntax", "use 'and' / 'or'", 11)]),
    ("(score > 1", [("syntax", "'(' was never closed", "", 0)]),
    ("score >", [("syntax", "invalid syntax", "", 7)]),
    ("a) + (b", [("syntax", "unmatched ')'", "", 1)]),
    ("   ", [("syntax", "the expression is empty", "write a value or a condition", 0)]),
    # unknown-name
    ("scroe > 70", [("unknown-name", "name 'scroe' is not a field of entity 'lead'",
                     "did you mean 'score'?", 0)]),
    ("tier == 'VIP' and true", [("unknown-name", "name 'true' is not a field of entity 'lead'",
                                 "did you mean 'True'?", 18)]),
    ("len > 2", [("unknown-name", "name 'len' is not a field of entity 'lead'",
                  "'len' is a function: call it as len(...)", 0)]),
    ("Score > 1", [("unknown-name", "name 'Score' is not a field of entity 'lead'",
                    "did you mean 'score'?", 0)]),
    # unknown-field
    ("user.nmae == 'ann'", [("unknown-field", "'nmae' is not a field of user",
                             "did you mean 'name'?", 5)]),
    ("params.regoin == region", [("unknown-field", "'regoin' is not a field of constant 'params'",
                                  "did you mean 'region'?", 7)]),
    ("lines[0]['amout'] > 1", [("unknown-field", "'amout' is not a field of line",
                                "did you mean 'amount'?", 9)]),
    ("any(l.amout > 1 for l in lines)", [("unknown-field", "'amout' is not a field of line",
                                          "did you mean 'amount'?", 6)]),
    # unknown-function
    ("lenght(keywords) > 1", [("unknown-function", "function 'lenght' does not exist",
                               "did you mean 'len'?", 0)]),
    ("getattr(name, 'upper')", [("unknown-function", "function 'getattr' does not exist",
                                 "see the function list in docs/expressions.md", 0)]),
    # bad-arguments
    ("len(keywords, 1)", [("bad-arguments", "len() takes 1 argument, got 2",
                           "usage: len(value)", 0)]),
    ("round(score, digitz=2)", [("bad-arguments", "round() has no parameter 'digitz'",
                                 "did you mean 'digits'?", 20)]),
    ("clamp(score, 0)", [("bad-arguments", "clamp() is missing argument 'hi'",
                          "usage: clamp(x, lo, hi)", 0)]),
    ("date(2026, 1)", [("bad-arguments", "date() takes 1 or 3 arguments, got 2",
                        "usage: date(y, m, d) / date('2026-01-31') / date(datetime)", 0)]),
    ("order_date > date('2026-02-30')", [("bad-arguments",
                                          "\"date('2026-02-30')\" is not a valid date",
                                          "'2026-02-30' is not a date like 2026-01-31", 13)]),
    ("matches(name, '[a-z')", [("bad-arguments", "invalid regular expression: unterminated "
                                "character set at position 0", "", 14)]),
    ("matches(name, region)", [("bad-arguments", "the pattern of matches() must be a fixed text",
                                "write matches(code, '^[A-Z]{2}[0-9]+$')", 14)]),
    ("lookup('price_caps', 'A')", [("bad-arguments", "lookup('price_caps') needs 2 values "
                                    "(product_class, region), got 1",
                                    "usage: lookup('table', key, ..., [date])", 0)]),
    ("lookup(region, 'A')", [("bad-arguments", "lookup() needs the table name as a fixed text",
                              "usage: lookup('table', key, ..., [date])", 7)]),
    ("min() > 1", [("bad-arguments", "min() needs at least one argument",
                    "usage: min(a, b, ...) / min(list)", 0)]),
    # type-mismatch
    ("name + 1", [("type-mismatch", "cannot apply '+' to 'name' (string) and '1' (integer)",
                   "text and numbers cannot be mixed", 0)]),
    ("name < score", [("type-mismatch", "cannot compare 'name' (string) with 'score' (integer) "
                       "using '<'", "text and numbers cannot be mixed", 0)]),
    ("score == '82'", [("type-mismatch", "comparing 'score' (integer) with \"'82'\" (string) is "
                        "always false", "text and numbers cannot be mixed", 0)]),
    ("order_date < '2026-01-01'", [("type-mismatch", "cannot compare 'order_date' (date) with "
                                    "\"'2026-01-01'\" (string) using '<'",
                                    "write a date as date('2026-01-31')", 0)]),
    ("stage_entered_at > order_date", [("type-mismatch", "cannot compare 'stage_entered_at' "
                                        "(datetime) with 'order_date' (date) using '>'",
                                        "use date(...) to compare a datetime with a date", 0)]),
    ("score > None", [("type-mismatch", "cannot compare 'score' (integer) with 'None' (null) "
                       "using '>'", "use 'is None' or is_set() to test for a missing value", 0)]),
    ("sum(keywords)", [("type-mismatch", "sum() needs list of number or duration for 'values', "
                        "not 'keywords' (list of string)", "usage: sum(list)", 4)]),
    ("len(score)", [("type-mismatch", "len() needs list or string for 'value', not 'score' "
                     "(integer)", "usage: len(value)", 4)]),
    ("lines.amount", [("type-mismatch", "'lines' (list of line) has no fields",
                       "write [x.amount for x in lines]", 6)]),
    ("score in name", [("type-mismatch", "only a text can be 'in' a text, not 'score' (integer)",
                        "", 0)]),
    ("-name", [("type-mismatch", "cannot negate 'name' (string)", "", 0)]),
    ("lookup('price_caps', 1, region)", [("type-mismatch", "lookup('price_caps') needs string for "
                                          "'product_class', not '1' (integer)", "", 21)]),
    # not-allowed
    ("name.__class__", [("not-allowed", f"field '__class__' is not allowed ({PREFIX})", "", 5)]),
    ("__import__('os')", [("not-allowed", f"name '__import__' is not allowed ({PREFIX})", "", 0)]),
    ("__builtins__", [("not-allowed", f"name '__builtins__' is not allowed ({PREFIX})", "", 0)]),
    ("lines[0]['__class__']", [("not-allowed", f"field '__class__' is not allowed ({PREFIX})",
                                "", 9)]),
    ("[x.__globals__ for x in lines]", [("not-allowed",
                                         f"field '__globals__' is not allowed ({PREFIX})", "", 3)]),
    ("[_x for _x in lines]", [("not-allowed", f"name '_x' is not allowed ({PREFIX})", "", 8)]),
    ("lambda: score", [("not-allowed", "lambda functions are not allowed",
                        "write the condition directly", 0)]),
    ("(y := score) > 1", [("not-allowed", "assignments (':=') are not allowed",
                           "use a computed field instead", 1)]),
    ("[*keywords]", [("not-allowed", "unpacking with '*' is not allowed", "", 1)]),
    ("f'{name.__class__}'", [("not-allowed", "f-strings are not allowed", "join texts with '+'",
                              0)]),
    ("{'a': score}", [("not-allowed", "dictionaries are not allowed",
                       "use a reference table and lookup()", 0)]),
    ("name.upper()", [("not-allowed", "methods cannot be called: 'upper'", "write upper(name)",
                       0)]),
    ("score is 3", [("not-allowed", "'is' is only allowed with None", "use '==' to compare values",
                     0)]),
    ("keywords[score]", [("not-allowed", "only a fixed number or text can be used as index",
                          "write items[0] or row['column']", 9)]),
    ("keywords[0:2]", [("not-allowed", "slices are not allowed",
                        "use a fixed index such as items[0]", 9)]),
    ("score << 40", [("not-allowed", "operator '<<' is not allowed", "", 0)]),
    ("b'x' in keywords", [("not-allowed", "the literal \"b'x'\" is not allowed",
                           "use numbers, texts, True, False or None", 0)]),
    ("[k for k in keywords for j in keywords]", [("not-allowed", "only one 'for' is allowed in a "
                                                  "comprehension", "nest two comprehensions "
                                                  "instead", 0)]),
    # too-large
    ("score > 99999999999999999999", [("too-large", "the number '99999999999999999999' is too "
                                       "large", "numbers are limited to 9223372036854775807",
                                       8)]),
    ("'x' * 10**8", [("too-large", "\"'x' * 10**8\" is too large: the result would be longer "
                      "than 100000 characters or items", "", 0)]),
    ("[0] * 10**6", [("too-large", "'[0] * 10**6' is too large: the result would be longer than "
                      "100000 characters or items", "", 0)]),
    ("score * 2 ** 10000", [("too-large", "'2 ** 10000' is too large: the result would be a "
                             "number that is too large", "", 8)]),
    ("name == '" + "a" * 1001 + "'", [("too-large", "the text \"'" + "a" * 46 + "...\" is 1001 "
                                       "characters long", "texts are limited to 1000 characters",
                                       8)]),
    ("-" * 150 + "score", [("too-large", "the expression is nested 151 levels deep; the limit is "
                            "100", SPLIT, 150)]),
    ("-" * 3990 + "score", [("too-large", "the expression is nested too deeply", SPLIT, 0)]),
    ("score + " * 600 + "1", [("too-large", "the expression is 4801 characters long; the limit "
                               "is 4000", SPLIT, 0)]),
    ("[" + "1, " * 1200 + "]", [("too-large", "the expression has 1201 parts; the limit is 1000",
                                 SPLIT, 0)]),
    ("[[[k for k in keywords] for j in keywords] for i in keywords]",
     [("too-large", "comprehensions are nested more than 2 deep", SPLIT, 2)]),
    ("matches(name, '" + "a" * 201 + "')", [("too-large", "the pattern is 201 characters long",
                                             "the limit is 200 characters", 14)]),
    # unknown-enum-value
    ("tier == 'VIPP'", [("unknown-enum-value", "'VIPP' is not a value of 'tier' "
                         "(values: VIP, normal, trial)", "did you mean 'VIP'?", 8)]),
    ("'vip' != tier", [("unknown-enum-value", "'vip' is not a value of 'tier' "
                        "(values: VIP, normal, trial)", "did you mean 'VIP'?", 0)]),
    ("tier in ('VIP', 'nromal')", [("unknown-enum-value", "'nromal' is not a value of 'tier' "
                                    "(values: VIP, normal, trial)", "did you mean 'normal'?",
                                    16)]),
    ("'urgnet' in tags", [("unknown-enum-value", "'urgnet' is not a value of 'tags' "
                           "(values: urgent, vip, cold)", "did you mean 'urgent'?", 0)]),
    ("lookup('price_caps', 'Z', region)", [("unknown-enum-value", "'Z' is not a value of "
                                            "'product_class' (values: A, B)", "", 21)]),
    # unknown-table / unknown-column / unknown-metric
    ("lookup('price_cap', 'A', region)", [("unknown-table", "table 'price_cap' does not exist",
                                           "did you mean 'price_caps'?", 7)]),
    ("lookup('zzz', 'A', region)", [("unknown-table", "table 'zzz' does not exist",
                                        "available tables: price_caps, seasonal", 7)]),
    ("quote_price > lookup('price_caps', product_class, region).max_price",
     [("unknown-column", "'max_price' is not a column of table 'price_caps'",
       "did you mean 'max_unit_price'?", 58)]),
    ("metric('won_rat', region) > 0.5", [("unknown-metric", "metric 'won_rat' does not exist",
                                          "did you mean 'won_rate'?", 7)]),
    ("metric('won_rate') > 0.5", [("bad-arguments", "metric('won_rate') needs 1 value (region), "
                                   "got 0", "usage: metric('name', group, ...)", 0)]),
    # unknown-evidence, and evidence_count's fixed arguments
    ("evidence_count('shelf_foto') >= 3", [("unknown-evidence", "'shelf_foto' is not an evidence "
                                            "kind of entity 'lead'", "did you mean 'shelf_photo'?",
                                            15)]),
    ("evidence_count('zzz') > 0", [("unknown-evidence", "'zzz' is not an evidence kind of entity "
                                    "'lead'", "known kinds: shelf_photo, signed_contract", 15)]),
    ("evidence_count(name) > 0", [("bad-arguments", "evidence_count() needs the evidence kind as "
                                   "a fixed text", "usage: evidence_count('kind', 'current_stay')",
                                   15)]),
    ("evidence_count('shelf_photo', 'any_stays') > 0",
     [("bad-arguments", "evidence_count() counts 'current_stay' or 'any_stay' (a fixed text)",
       "did you mean 'any_stay'?", 30)]),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), GOLDEN, ids=[g[0][:40] for g in GOLDEN])
def test_golden_issue(source: str, expected: list[tuple[str, str, str, int]]) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, SCOPE)
    assert [(i.code, i.message, i.hint, i.offset) for i in caught.value.issues] == expected
    assert caught.value.source == source


def test_every_issue_code_has_a_golden_case() -> None:
    codes = {code for _, issues in GOLDEN for code, *_ in issues}
    assert codes == {
        "syntax", "unknown-name", "unknown-field", "unknown-function", "bad-arguments",
        "type-mismatch", "not-allowed", "too-large", "unknown-enum-value", "unknown-table",
        "unknown-column", "unknown-metric", "unknown-evidence",
    }  # fmt: skip


def test_all_issues_of_one_expression_are_collected() -> None:
    source = "scroe > 1 and tier == 'VIPP' and lenght(name) > 2 and name.__class__"
    with pytest.raises(ExpressionError) as caught:
        check_expression(source, SCOPE)
    assert [(i.code, i.offset) for i in caught.value.issues] == [
        ("unknown-name", 0),
        ("unknown-enum-value", 22),
        ("unknown-function", 33),
        ("not-allowed", 59),
    ]
    assert str(caught.value).startswith('4 problems in expression "scroe > 1 and tier == ')


def test_evidence_count_needs_a_record() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("evidence_count('shelf_photo') > 0", SMALL)
    assert [(i.code, i.message) for i in caught.value.issues] == [
        (
            "unknown-name",
            "evidence_count() reads a record's files; no record is available in this expression",
        )
    ]


def test_hours_since_needs_now_in_the_context() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("hours_since(stage_entered_at) > 72", NO_NOW)
    assert caught.value.issues == [
        ExprIssue(
            "unknown-name",
            "hours_since() needs 'now', which is not available in entity 'lead'",
            "use hours_between() or days_between() with two times",
            0,
        )
    ]


def test_small_scope_lists_available_names() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("zzz", SMALL)
    assert caught.value.issues == [
        ExprIssue("unknown-name", "name 'zzz' is not defined", "available names: name, score", 0)
    ]


def test_expect_bool_rejects_a_number() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("score + 1", SCOPE, expect=ExprType.BOOL)
    assert caught.value.issues == [
        ExprIssue(
            "type-mismatch",
            "'score + 1' gives integer, but bool is expected",
            "compare the value, e.g. with '>', '==' or 'in'",
            0,
        )
    ]


B, A = ExprType.BOOL, ExprType.ANY


@pytest.mark.parametrize(
    ("source", "static", "record", "result"),
    [
        ("score > 1", B, {"score": 2}, True),
        ("score > 1", B, {"score": 1}, False),
        ("tier == 'VIP' or extra", A, {"tier": "normal", "extra": True}, True),
        ("tier == 'VIP' or extra", A, {"tier": "VIP", "extra": None}, True),
        ("tier == 'VIP' or extra", A, {"tier": "normal", "extra": None}, None),
        ("'invoice' in keywords", B, {"keywords": ["invoice"]}, True),
        ("'invoice' in keywords", B, {"keywords": ["late"]}, False),
        ("None", ExprType.NULL, {}, None),
        ("extra", A, {"extra": False}, False),
    ],
)
def test_expect_bool_accepts_conditions(
    source: str, static: ExprType, record: dict[str, object], result: object
) -> None:
    expr = compile_expression(source, SCOPE, expect=ExprType.BOOL)
    assert expr.type == static
    assert expr(record, CONTEXT) is result


def test_offsets_point_into_multiline_sources() -> None:
    source = "tier == 'VIP'\n  and scroe > 1"
    with pytest.raises(ExpressionError) as caught:
        check_expression(source, SCOPE)
    (issue,) = caught.value.issues
    assert source[issue.offset : issue.offset + 5] == "scroe"


def test_offsets_count_characters_not_bytes() -> None:
    source = "name == 'Ünïcödé' and scroe > 1"
    with pytest.raises(ExpressionError) as caught:
        check_expression(source, SCOPE)
    assert source[caught.value.issues[0].offset :].startswith("scroe")


def test_compile_group_reports_the_failing_index() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_group(["score", "scroe"], SCOPE)
    assert caught.value.index == 1
    assert caught.value.issues[0].code == "unknown-name"


def test_unknown_name_without_subject() -> None:
    with pytest.raises(ExpressionError) as caught:
        check_expression("nope", Scope(record={}))
    assert caught.value.issues == [ExprIssue("unknown-name", "name 'nope' is not defined", "", 0)]
