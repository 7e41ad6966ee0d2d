"""A SOQL subset for the sandbox: enough for what integrations send.

    SELECT f1, f2 FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

Conditions: comparisons `= != <> < <= > >=`, `LIKE` (`%`, `_`), `IN (...)`, `NOT IN (...)`, combined with AND, OR, NOT
and parentheses. Semi-joins `Id IN (SELECT AccountId FROM Contact WHERE ...)` and anti-joins `NOT IN (SELECT ...)`:
the left operand is an Id or reference field; the sub-select is on another object, selects one Id or reference field
pointing at the same object, holds no sub-select itself and sits at the top level of WHERE (not under OR or NOT); the
nulls it selects are ignored. The caller runs each sub-select once per query with `resolve_semijoins()`.
Values: 'strings' (backslash escapes), numbers, true/false, null, date literals `2024-01-31`,
datetimes `2024-01-31T10:00:00Z` / `...+01:00` / `.000+0000`, and TODAY, YESTERDAY, LAST_N_DAYS:n.
`SELECT COUNT() FROM ...` returns only `totalSize`.

Errors are `SoqlError(code, message)` with the real error codes: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from local.sandbox.salesforce.schema import FieldDef, ObjectDef


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>!=|<>|<=|>=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "nulls",
            "first", "last", "limit", "offset", "null", "true", "false"}


@dataclass
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:pos + 20].strip()}'")
        kind = m.lastgroup or ""
        tokens.append(Token(kind, m.group(kind)))
        pos = m.end()
    return tokens


@dataclass
class Cond:
    """A comparison leaf (`field op value`) or a boolean node (`op` in AND/OR/NOT with `children`)."""

    op: str
    field: str = ""
    value: Any = None
    children: list[Cond] = dataclasses.field(default_factory=list)


@dataclass
class SemiJoin:
    """The right side of `field [NOT] IN (SELECT f FROM Obj ...)`: the sub-select and, once resolved, the 15-character
    prefixes of the ids it selected (so 15- and 18-character ids match, as `_equal` does)."""

    query: Query
    ids: frozenset[str] | None = None


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Cond | None = None
    order_by: list[tuple[str, bool, bool]] = dataclasses.field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0
    count_only: bool = False


class _Parser:
    def __init__(self, tokens: list[Token], now: datetime) -> None:
        self.tokens = tokens
        self.i = 0
        self.now = now
        self.in_sub_select = False

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "word" and tok.text.lower() == word

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return tok

    def expect_word(self, word: str) -> None:
        tok = self.take()
        if tok.kind != "word" or tok.text.lower() != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}', expecting '{word.upper()}'")

    def expect_punct(self, punct: str) -> None:
        tok = self.take()
        if tok.text != punct:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}', expecting '{punct}'")

    def name(self) -> str:
        tok = self.take()
        if tok.kind != "word" or tok.text.lower() in KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}'")
        return tok.text

    def query(self) -> Query:
        q = self.select()
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek().text}'")  # type: ignore[union-attr]
        _check_semijoin_placement(q.where)
        return q

    def select(self) -> Query:
        self.expect_word("select")
        fields: list[str] = []
        count_only = False
        if self.is_word("count") and self.peek(1) is not None and self.peek(1).text == "(":  # type: ignore[union-attr]
            self.take()
            self.expect_punct("(")
            self.expect_punct(")")
            count_only = True
        else:
            fields.append(self.name())
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                fields.append(self.name())
        self.expect_word("from")
        q = Query(fields=fields, sobject=self.name(), count_only=count_only)
        if self.is_word("where"):
            self.take()
            q.where = self.or_expr()
        if self.is_word("order"):
            self.take()
            self.expect_word("by")
            while True:
                name = self.name()
                desc = False
                if self.is_word("asc") or self.is_word("desc"):
                    desc = self.take().text.lower() == "desc"
                nulls_last = desc
                if self.is_word("nulls"):
                    self.take()
                    which = self.take().text.lower()
                    if which not in ("first", "last"):
                        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{which}', expecting FIRST or LAST")
                    nulls_last = which == "last"
                q.order_by.append((name, desc, nulls_last))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
        if self.is_word("limit"):
            self.take()
            q.limit = self.integer("LIMIT")
        if self.is_word("offset"):
            self.take()
            q.offset = self.integer("OFFSET")
        return q

    def sub_select(self) -> SemiJoin:
        """`(SELECT f FROM Obj [WHERE ...])` after IN / NOT IN; the opening parenthesis is already taken."""
        if self.in_sub_select:
            raise SoqlError("MALFORMED_QUERY", "Nesting of semi join sub-selects is not supported")
        self.in_sub_select = True
        sub = self.select()
        self.in_sub_select = False
        self.expect_punct(")")
        if sub.count_only or len(sub.fields) != 1:
            chosen = "COUNT()" if sub.count_only else ", ".join(sub.fields)
            raise SoqlError("MALFORMED_QUERY",
                            f"semi join sub-selects must select exactly one Id or reference field, not: {chosen}")
        return SemiJoin(sub)

    def integer(self, what: str) -> int:
        tok = self.take()
        if tok.kind != "number" or "." in tok.text or tok.text.startswith("-"):
            raise SoqlError("MALFORMED_QUERY", f"{what} must be a non-negative integer, not '{tok.text}'")
        return int(tok.text)

    def or_expr(self) -> Cond:
        left = self.and_expr()
        children = [left]
        while self.is_word("or"):
            self.take()
            children.append(self.and_expr())
        return left if len(children) == 1 else Cond("OR", children=children)

    def and_expr(self) -> Cond:
        left = self.not_expr()
        children = [left]
        while self.is_word("and"):
            self.take()
            children.append(self.not_expr())
        return left if len(children) == 1 else Cond("AND", children=children)

    def not_expr(self) -> Cond:
        if self.is_word("not"):
            self.take()
            return Cond("NOT", children=[self.not_expr()])
        if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.take()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Cond:
        name = self.name()
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Cond(op, name, self.value())
        word = tok.text.lower()
        if word == "like":
            value = self.value()
            if not isinstance(value, str):
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a string value")
            return Cond("LIKE", name, value)
        negated = False
        if word == "not" and self.is_word("in"):
            self.take()
            negated = True
        elif word != "in":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}'")
        self.expect_punct("(")
        op = "NOT IN" if negated else "IN"
        if self.is_word("select"):
            return Cond(op, name, self.sub_select())
        values = [self.value()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return Cond(op, name, values)

    def value(self) -> Any:
        tok = self.take()
        if tok.kind == "string":
            return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
                          tok.text[1:-1])
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "datetime":
            return parse_datetime(tok.text)
        if tok.kind == "date":
            return date.fromisoformat(tok.text)
        if tok.kind == "word":
            word = tok.text.lower()
            if word == "null":
                return None
            if word in ("true", "false"):
                return word == "true"
            today = self.now.date()
            if word == "today":
                return DateRange(today, today)
            if word == "yesterday":
                return DateRange(today - timedelta(days=1), today - timedelta(days=1))
            if word.startswith("last_n_days:"):
                n = int(word.split(":", 1)[1])
                return DateRange(today - timedelta(days=n), today)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}'")


@dataclass(frozen=True)
class DateRange:
    """A date literal such as TODAY: covers whole days, from `start` to `end` inclusive."""

    start: date
    end: date


def _check_semijoin_placement(where: Cond | None) -> None:
    """A semi- or anti-join may only be the whole WHERE or one of its top-level AND terms."""
    top = _and_terms(where)
    for cond in _semijoins(where):
        if not any(cond is t for t in top):
            raise SoqlError("MALFORMED_QUERY", "Semi join sub-selects are only allowed at the top level WHERE "
                                               "expressions and not in nested WHERE expressions.")


def _and_terms(cond: Cond | None) -> list[Cond | None]:
    if cond is not None and cond.op == "AND":
        return [t for c in cond.children for t in _and_terms(c)]
    return [cond]


def _semijoins(cond: Cond | None) -> list[Cond]:
    if cond is None:
        return []
    if cond.children:
        return [s for c in cond.children for s in _semijoins(c)]
    return [cond] if isinstance(cond.value, SemiJoin) else []


def parse_datetime(text: str) -> datetime:
    value = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(text: str, now: datetime | None = None) -> Query:
    return _Parser(tokenize(text), now or datetime.now(UTC)).query()


# --- evaluation ------------------------------------------------------------------------------------------------------


def find_object(objects: Mapping[str, ObjectDef], name: str) -> ObjectDef:
    """The sObject named (case-insensitive, as SOQL is), or INVALID_TYPE."""
    found = objects.get(name) or next((o for n, o in objects.items() if n.lower() == name.lower()), None)
    if found is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append "
            "the '__c' after the entity name.")
    return found


def check_fields(q: Query, obj: ObjectDef) -> None:
    """INVALID_FIELD for a column the object lacks (the message names it, as Salesforce's does)."""
    names = list(q.fields) + [o[0] for o in q.order_by] + _cond_fields(q.where)
    for name in names:
        if obj.field(name) is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )


def resolve_semijoins(q: Query, obj: ObjectDef, objects: Mapping[str, ObjectDef],
                      records: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
    """Check and run each sub-select of `q` (on `obj`, fields already checked) once, over the org's `objects` and
    `records` by object name; `matches()` then only looks the row's value up in what the sub-select selected."""
    for cond in _semijoins(q.where):
        semi = cond.value
        left = obj.field(cond.field)
        assert left is not None and isinstance(semi, SemiJoin)
        if left.type not in ("id", "reference"):
            raise SoqlError("MALFORMED_QUERY", f"semi join and anti-join filters need an Id or reference field on "
                                               f"the left of {cond.op}, not '{left.name}' ({left.type})")
        sub_obj = find_object(objects, semi.query.sobject)
        if sub_obj.name == obj.name:
            raise SoqlError("MALFORMED_QUERY", "The inner and outer selects should not be on the same object type")
        check_fields(semi.query, sub_obj)
        selected = sub_obj.field(semi.query.fields[0])
        assert selected is not None
        if selected.type not in ("id", "reference"):
            raise SoqlError("MALFORMED_QUERY",
                            f"semi join sub selects can only query id fields, cannot use: '{selected.name}'")
        if not set(_points_at(left, obj)) & set(_points_at(selected, sub_obj)):
            raise SoqlError("MALFORMED_QUERY", f"semi join sub-select field '{sub_obj.name}.{selected.name}' points "
                                               f"at {', '.join(_points_at(selected, sub_obj))}, but '{left.name}' on "
                                               f"{obj.name} points at {', '.join(_points_at(left, obj))}")
        rows = select_rows(semi.query, sub_obj, records[sub_obj.name].values())
        semi.ids = frozenset(str(r[selected.name])[:15] for r in rows if r.get(selected.name) is not None)


def _points_at(fdef: FieldDef, obj: ObjectDef) -> list[str]:
    """The objects whose ids an Id or reference field holds."""
    return [obj.name] if fdef.type == "id" else list(fdef.reference_to)


def select_rows(q: Query, obj: ObjectDef, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows matching WHERE, in ORDER BY order (by Id without one), after OFFSET, at most LIMIT."""
    key = sort_key(q.order_by or [("Id", False, False)], obj)
    found = sorted((r for r in rows if matches(q.where, r, obj)), key=key)
    found = found[q.offset:]
    return found if q.limit is None else found[:q.limit]


def _cond_fields(cond: Cond | None) -> list[str]:
    if cond is None:
        return []
    if cond.children:
        return [n for c in cond.children for n in _cond_fields(c)]
    return [cond.field]


def _comparable(value: Any, field_type: str) -> Any:
    if isinstance(value, datetime):
        return value
    if field_type == "datetime" and isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    return value


def matches(cond: Cond | None, record: dict[str, Any], obj: ObjectDef) -> bool:
    if cond is None:
        return True
    if cond.op == "AND":
        return all(matches(c, record, obj) for c in cond.children)
    if cond.op == "OR":
        return any(matches(c, record, obj) for c in cond.children)
    if cond.op == "NOT":
        return not matches(cond.children[0], record, obj)
    fdef = obj.field(cond.field)
    assert fdef is not None
    actual = record.get(fdef.name)
    op, wanted = cond.op, cond.value
    if isinstance(wanted, DateRange):
        if actual is None:
            return op == "!="
        day = actual.date() if isinstance(actual, datetime) else actual
        inside = wanted.start <= day <= wanted.end
        return {"=": inside, "!=": not inside, "<": day < wanted.start, "<=": day <= wanted.end,
                ">": day > wanted.end, ">=": day >= wanted.start}.get(op, False)
    if isinstance(wanted, SemiJoin):
        if wanted.ids is None:
            raise RuntimeError("resolve_semijoins() must run before matching rows")
        found = actual is not None and str(actual)[:15] in wanted.ids
        return found if op == "IN" else not found
    if op in ("IN", "NOT IN"):
        found = any(_equal(actual, v, fdef.type) for v in wanted)
        return found if op == "IN" else not found
    if op == "LIKE":
        if actual is None:
            return False
        pattern = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in wanted)
        return re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if op == "=":
        return _equal(actual, wanted, fdef.type)
    if op == "!=":
        return not _equal(actual, wanted, fdef.type)
    if actual is None or wanted is None:
        return False
    a, w = _comparable(actual, fdef.type), _comparable(wanted, fdef.type)
    if isinstance(a, str) and isinstance(w, str):
        a, w = a.lower(), w.lower()
    try:
        return bool({"<": a < w, "<=": a <= w, ">": a > w, ">=": a >= w}[op])
    except TypeError:
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR",
                        f"value of filter criterion for field '{fdef.name}' must be of type {fdef.type}") from None


def _equal(actual: Any, wanted: Any, field_type: str) -> bool:
    if wanted is None or actual is None:
        return actual is None and wanted is None
    if isinstance(actual, str) and isinstance(wanted, str):
        if field_type in ("id", "reference"):  # 15- and 18-character ids name the same record
            return actual[:15] == wanted[:15]
        return actual.lower() == wanted.lower()  # text comparisons are case-insensitive
    return bool(_comparable(actual, field_type) == _comparable(wanted, field_type))


def sort_key(order_by: list[tuple[str, bool, bool]], obj: ObjectDef) -> Callable[[dict[str, Any]], Any]:
    class Key:
        def __init__(self, record: dict[str, Any]) -> None:
            self.record = record

        def __lt__(self, other: Key) -> bool:
            for name, desc, nulls_last in order_by:
                fdef = obj.field(name)
                assert fdef is not None
                a, b = self.record.get(fdef.name), other.record.get(fdef.name)
                if isinstance(a, str) and isinstance(b, str):
                    a, b = a.lower(), b.lower()
                if a == b:
                    continue
                if a is None or b is None:
                    return (a is None) != nulls_last
                return bool(a > b) if desc else bool(a < b)
            return False

    return Key
