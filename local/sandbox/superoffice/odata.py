"""OData archive queries: `$select`, `$filter`, `$orderBy`, `$top`, `$skip` over in-memory archive providers.

The `$filter` grammar follows SOD `api/search/odata`: `column op value`, `column op (v1, v2)`, unary operators,
`and` / `or` / parentheses and the functions `substringof(a, col)`, `startswith(col, a)`, `endswith(col, a)`.
Column and operator names are case-insensitive. An unknown column or operator is a 400 naming it (the sandbox is
stricter than documented here; the real API's reaction is unconfirmed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from local.sandbox.superoffice.model import bad_request, utcnow

Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # int | string | datetime | date | bool | list | float
    get: Getter  # raw value from a source row
    show: Getter | None = None  # display value for list columns (raw is the id)


class Provider:
    def __init__(self, name: str, entity_name: str, key: str, columns: list[Column],
                 dynamic: Callable[[str], Column | None] | None = None) -> None:
        self.name = name
        self.entity_name = entity_name
        self.key = key  # primary key column
        self._columns = {c.name.lower(): c for c in columns}
        self._dynamic = dynamic

    def column(self, name: str) -> Column:
        found = self._columns.get(name.lower())
        if found is None and self._dynamic is not None:
            found = self._dynamic(name)
        if found is None:
            raise bad_request(f"Unknown column {name!r} in archive provider {self.name}")
        return found

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self._columns.values()]


# --- tokenizer / parser ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?![\w:]))|(?P<op>!=|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])|(?P<ident>[A-Za-z_$][\w$.:/\-]*))"
)

INT_OPS = {"eq", "=", "ne", "!=", "unequals", "lt", "<", "less", "le", "<=", "gt", ">", "greater", "ge", ">=",
           "equals", "between", "oneof", "notoneof", "in", "set", "notset"}
STRING_OPS = {"eq", "=", "is", "ne", "!=", "isnot", "begins", "notbegins", "contains", "notcontains", "ends",
              "notends", "in", "oneof", "notoneof", "between", "equals", "unequals", "set", "notset"}
DATE_OPS = {"eq", "=", "date", "ne", "before", "after", "between", "datebetween", "datetime", "beforetime",
            "aftertime", "lt", "<", "le", "<=", "gt", ">", "ge", ">=", "set", "notset", "today", "beforetoday",
            "aftertoday", "thisyear", "thismonth", "thisweek", "lastweek", "lastmonth"}
UNARY = {"set", "notset", "today", "beforetoday", "aftertoday", "thisyear", "thismonth", "thisweek", "lastweek",
         "lastmonth", "currentassociate"}
LIST_OPS = {"eq", "=", "ne", "!=", "equals", "unequals", "oneof", "notoneof", "in", "associateisoneof",
            "associateisnotoneof", "set", "notset", "currentassociate"}
BOOL_OPS = {"eq", "=", "ne", "!=", "equals", "unequals", "set", "notset"}
OPS_BY_TYPE = {"int": INT_OPS, "float": INT_OPS, "string": STRING_OPS, "datetime": DATE_OPS, "date": DATE_OPS,
               "list": LIST_OPS, "bool": BOOL_OPS}

Predicate = Callable[[dict[str, Any]], bool]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f"$filter: cannot read {text[pos:pos + 20]!r} at position {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, provider: Provider, text: str, context: dict[str, Any]) -> None:
        self.provider = provider
        self.tokens = _tokenize(text)
        self.i = 0
        self.context = context
        self.columns_used: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise bad_request("$filter: unexpected end of expression")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise bad_request(f"$filter: expected {value!r}, found {tok[1]!r}")

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise bad_request(f"$filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while (tok := self.peek()) and tok[0] == "ident" and tok[1].lower() == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.atom()]
        while (tok := self.peek()) and tok[0] == "ident" and tok[1].lower() == "and":
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def atom(self) -> Predicate:
        kind, value = self.take()
        if value == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if kind != "ident":
            raise bad_request(f"$filter: expected a column name, found {value!r}")
        lowered = value.lower()
        if lowered == "not":
            inner = self.atom()
            return lambda row: not inner(row)
        nxt = self.peek()
        if lowered in ("substringof", "startswith", "endswith") and nxt and nxt[1] == "(":
            return self.function(lowered)
        column = self.provider.column(value)
        self.columns_used.append(value)
        op_tok = self.take()
        op = op_tok[1].lower()
        if op not in OPS_BY_TYPE[column.type]:
            raise bad_request(f"$filter: operator {op_tok[1]!r} is not valid for {column.type} column {value!r}")
        operands: list[str] = []
        if op not in UNARY:
            nxt = self.peek()
            if nxt and nxt[1] == "(":
                self.take()
                while True:
                    operands.append(self.literal())
                    sep = self.take()[1]
                    if sep == ")":
                        break
                    if sep != ",":
                        raise bad_request(f"$filter: expected ',' or ')' in the value list of {value!r}")
            else:
                operands.append(self.literal())
        return _compare(column, op, operands, self.context)

    def literal(self) -> str:
        kind, value = self.take()
        if kind not in ("str", "num", "ident"):
            raise bad_request(f"$filter: expected a value, found {value!r}")
        return value

    def function(self, name: str) -> Predicate:
        self.expect("(")
        first = self.take()
        self.expect(",")
        second = self.take()
        self.expect(")")
        if name == "substringof":
            needle, col_tok = first, second
        else:
            col_tok, needle = first, second
        column = self.provider.column(col_tok[1])
        self.columns_used.append(col_tok[1])
        text = needle[1].lower()

        def pred(row: dict[str, Any]) -> bool:
            hay = str(_display(column, row) or "").lower()
            if name == "substringof":
                return text in hay
            return hay.startswith(text) if name == "startswith" else hay.endswith(text)

        return pred


def _display(column: Column, row: dict[str, Any]) -> Any:
    return column.show(row) if column.show is not None else column.get(row)


def _as_datetime(text: str, column: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"$filter: {text!r} is not a date for column {column!r}") from None
    return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed.astimezone().replace(tzinfo=None)


def _compare(column: Column, op: str, operands: list[str], context: dict[str, Any]) -> Predicate:
    t = column.type
    if op in ("set", "notset"):
        want = op == "set"
        return lambda row: bool(column.get(row) not in (None, "", 0, False)) == want
    if t in ("datetime", "date"):
        return _compare_dates(column, op, operands)
    if t in ("int", "float", "list"):
        if op == "currentassociate":
            return lambda row: column.get(row) == context.get("associate_id")
        try:
            nums = [float(o) if t == "float" else int(float(o)) for o in operands]
        except ValueError:
            raise bad_request(f"$filter: {column.name!r} takes numbers, got {operands}") from None
        return _numeric(column, op, nums)
    if t == "bool":
        want = operands[0].lower() in ("1", "true")
        positive = op in ("eq", "=", "equals")
        return lambda row: (bool(column.get(row)) == want) == positive
    # strings: SQL collation is case-insensitive
    values = [o.lower() for o in operands]

    def text(row: dict[str, Any]) -> str:
        return str(_display(column, row) or "").lower()

    if op in ("eq", "=", "is", "equals"):
        return lambda row: text(row) == values[0]
    if op in ("ne", "!=", "isnot", "unequals"):
        return lambda row: text(row) != values[0]
    if op == "begins":
        return lambda row: text(row).startswith(values[0])
    if op == "notbegins":
        return lambda row: not text(row).startswith(values[0])
    if op == "contains":
        return lambda row: values[0] in text(row)
    if op == "notcontains":
        return lambda row: values[0] not in text(row)
    if op == "ends":
        return lambda row: text(row).endswith(values[0])
    if op == "notends":
        return lambda row: not text(row).endswith(values[0])
    if op in ("in", "oneof"):
        return lambda row: text(row) in values
    if op == "notoneof":
        return lambda row: text(row) not in values
    if op == "between":
        lo, hi = _pair(values, column)
        return lambda row: lo <= text(row) <= hi
    raise bad_request(f"$filter: operator {op!r} is not supported for {column.name!r}")


def _pair(values: list[Any], column: Column) -> tuple[Any, Any]:
    if len(values) != 2:
        raise bad_request(f"$filter: between on {column.name!r} takes two values: col between (a, b)")
    return values[0], values[1]


def _numeric(column: Column, op: str, nums: list[float | int]) -> Predicate:
    if not nums:
        raise bad_request(f"$filter: {column.name!r} {op} needs a value")

    def val(row: dict[str, Any]) -> Any:
        return column.get(row) or 0

    first = nums[0]
    table: dict[str, Predicate] = {
        "eq": lambda row: val(row) == first, "=": lambda row: val(row) == first,
        "equals": lambda row: val(row) == first,
        "ne": lambda row: val(row) != first, "!=": lambda row: val(row) != first,
        "unequals": lambda row: val(row) != first,
        "lt": lambda row: val(row) < first, "<": lambda row: val(row) < first, "less": lambda row: val(row) < first,
        "le": lambda row: val(row) <= first, "<=": lambda row: val(row) <= first,
        "gt": lambda row: val(row) > first, ">": lambda row: val(row) > first,
        "greater": lambda row: val(row) > first,
        "ge": lambda row: val(row) >= first, ">=": lambda row: val(row) >= first,
        "oneof": lambda row: val(row) in nums, "in": lambda row: val(row) in nums,
        "associateisoneof": lambda row: val(row) in nums,
        "notoneof": lambda row: val(row) not in nums, "associateisnotoneof": lambda row: val(row) not in nums,
    }
    if op == "between":
        lo, hi = _pair(nums, column)
        return lambda row: lo <= val(row) <= hi
    return table[op]


def _compare_dates(column: Column, op: str, operands: list[str]) -> Predicate:
    today = utcnow().date()

    def moment(row: dict[str, Any]) -> datetime | None:
        value = column.get(row)
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        stamp: datetime | None = value
        return stamp

    def day(row: dict[str, Any]) -> date | None:
        m = moment(row)
        return m.date() if m else None

    unary: dict[str, Callable[[date], bool]] = {
        "today": lambda d: d == today,
        "beforetoday": lambda d: d < today,
        "aftertoday": lambda d: d > today,
        "thisyear": lambda d: d.year == today.year,
        "thismonth": lambda d: (d.year, d.month) == (today.year, today.month),
        "thisweek": lambda d: d.isocalendar()[:2] == today.isocalendar()[:2],
        "lastweek": lambda d: d.isocalendar()[:2] == (today - timedelta(days=7)).isocalendar()[:2],
        "lastmonth": lambda d: (d.replace(day=1) == (today.replace(day=1) - timedelta(days=1)).replace(day=1)),
    }
    if op in unary:
        check = unary[op]
        return lambda row: (d := day(row)) is not None and check(d)
    stamps = [_as_datetime(o, column.name) for o in operands]
    if not stamps:
        raise bad_request(f"$filter: {column.name!r} {op} needs a date")
    first = stamps[0]
    if op in ("beforetime", "aftertime", "datetime", "lt", "<", "le", "<=", "gt", ">", "ge", ">="):
        cmp: dict[str, Callable[[datetime], bool]] = {
            "beforetime": lambda m: m < first, "lt": lambda m: m < first, "<": lambda m: m < first,
            "le": lambda m: m <= first, "<=": lambda m: m <= first,
            "aftertime": lambda m: m > first, "gt": lambda m: m > first, ">": lambda m: m > first,
            "ge": lambda m: m >= first, ">=": lambda m: m >= first,
            "datetime": lambda m: m == first,
        }
        check_moment = cmp[op]
        return lambda row: (m := moment(row)) is not None and check_moment(m)
    first_day = first.date()
    if op in ("between", "datebetween"):
        lo, hi = _pair([s.date() for s in stamps], column)
        return lambda row: (d := day(row)) is not None and lo <= d <= hi
    day_cmp: dict[str, Callable[[date], bool]] = {
        "eq": lambda d: d == first_day, "=": lambda d: d == first_day, "date": lambda d: d == first_day,
        "ne": lambda d: d != first_day, "before": lambda d: d < first_day, "after": lambda d: d > first_day,
    }
    check_day = day_cmp[op]
    return lambda row: (d := day(row)) is not None and check_day(d)


# --- query execution --------------------------------------------------------------------------------------------


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run(
    provider: Provider,
    rows: list[dict[str, Any]],
    params: dict[str, str],
    *,
    max_top: int,
    context: dict[str, Any],
    metadata_url: str,
    raw_values: bool = True,
) -> dict[str, Any]:
    """Execute an archive query; returns the ODataSlimResponse (or Full-mode) body."""
    select = _split_list(params.get("$select", "")) or [provider.key]
    columns = [(name, provider.column(name)) for name in select]
    if "$filter" in params and params["$filter"].strip():
        predicate = _Parser(provider, params["$filter"], context).parse()
        rows = [r for r in rows if predicate(r)]
    order = _split_list(params.get("$orderby", "")) or [provider.key]
    for spec in reversed(order):
        name, _, direction = spec.partition(" ")
        col = provider.column(name)

        def row_key(row: dict[str, Any], c: Column = col) -> Any:
            return _sort_key(_display(c, row) if c.type != "list" else c.get(row))

        rows = sorted(rows, key=row_key, reverse=direction.strip().lower() == "desc")
    skip = _int_param(params, "$skip", 0)
    top = min(_int_param(params, "$top", max_top), max_top)
    page = rows[skip: skip + top] if top > 0 else []
    mode = params.get("$mode", "Slim").lower()
    json_safe = params.get("$jsonsafe", "false").lower() == "true"
    key_col = provider.column(provider.key)
    values = []
    for row in page:
        pk = key_col.get(row)
        if mode == "full":
            item: dict[str, Any] = {"PrimaryKey": pk, "EntityName": provider.entity_name, "StyleHint": "",
                                    "LinkHint": f"nav={provider.entity_name}&{provider.entity_name}_id={pk}",
                                    "TableRight": {"Mask": "Read", "Reason": ""}, "Column": {}}
            for name, col in columns:
                item["Column"][_safe(name, json_safe)] = {
                    "RawValue": _raw(col, row) if raw_values else None, "DisplayValue": _encoded(col, row),
                    "LinkHint": "", "TooltipHint": _out(col, row) if col.type == "list" else "",
                }
        else:
            item = {"PrimaryKey": pk, "EntityName": provider.entity_name}
            for name, col in columns:
                item[_safe(name, json_safe)] = _out(col, row)
        values.append(item)
    return {"odata.metadata": metadata_url, "odata.nextLink": None, "value": values}


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d+", raw.strip()):
        raise bad_request(f"{name}: expected a non-negative integer, got {raw!r}")
    return int(raw)


def _safe(name: str, json_safe: bool) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name) if json_safe else name


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, datetime | date):
        return (1, value.isoformat())
    return (1, value)


def _out(column: Column, row: dict[str, Any]) -> Any:
    value = _display(column, row)
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return "" if column.type in ("string", "list", "datetime", "date") else None
    return value


def _raw(column: Column, row: dict[str, Any]) -> Any:
    """Full mode `RawValue`: the typed value (ints, list and associate ids, floats, booleans; dates as ISO strings,
    whole seconds like the entity carriers; null for an empty date; strings as they are)."""
    value = column.get(row)
    t = column.type
    if t in ("datetime", "date"):
        if isinstance(value, datetime):
            return value.replace(microsecond=0).isoformat()
        return value.isoformat() if isinstance(value, date) else None
    if t in ("int", "list"):
        return int(value or 0)
    if t == "float":
        return float(value or 0)
    if t == "bool":
        return bool(value)
    return "" if value is None else str(value)


def _encoded(column: Column, row: dict[str, Any]) -> str:
    """Full mode `DisplayValue`: SOD `archive-providers/encoded-values.md`: every value but a string is an encoded
    string `[marker:value]`: int (and list/associate ids) `[I:3]`, double `[F:123.4]`, date `[D:MM/DD/YYYY]`,
    datetime `[DT:MM/DD/YYYY HH:MM:SS]`; strings are never encoded. A checkbox is `[I:1]`/`[I:0]` (the doc has no
    boolean marker; unconfirmed). An empty date is an empty string."""
    raw = _raw(column, row)
    t = column.type
    if t in ("int", "list"):
        return f"[I:{raw}]"
    if t == "bool":
        return f"[I:{1 if raw else 0}]"
    if t == "float":
        text = repr(float(raw))
        return f"[F:{text[:-2] if text.endswith('.0') else text}]"
    if t in ("datetime", "date"):
        value = column.get(row)
        if isinstance(value, datetime):
            return f"[DT:{value.strftime('%m/%d/%Y %H:%M:%S')}]"
        if isinstance(value, date):
            return f"[D:{value.strftime('%m/%d/%Y')}]"
        return ""
    return str(raw)
