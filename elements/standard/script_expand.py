"""Script's text expansion: $variables and $(handler calls), and its functions.

`expand(text, lookup, call)` substitutes, outside single quotes:

  $name, ${name}     lookup(name); left as written when lookup returns None
  $(words ...)       call(expanded words): a function of FUNCTIONS below
                     ("add 1 2") or a read handler ("c.count", "q.length")

The functions are Script's arithmetic and logic, which Click exposes as
read handlers taking a parameter: add sub min max mul div idiv mod rem neg
abs eq ne gt ge lt le not and or nand nor if in first sprintf random length
unquote cat catq htons htonl ntohs ntohl now.
"""
from __future__ import annotations

import random as _random
import re
import socket
import time

from vforward.args import unquote as _unquote


class ScriptError(Exception):
    """An instruction or expression Script cannot evaluate."""


_NAME = re.compile(r"[A-Za-z0-9_]+|[?#$0]")


def _close_paren(text: str, i: int) -> int:
    """Index of the ')' closing the '(' at text[i], skipping quotes."""
    depth, quote = 0, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ScriptError(f"unbalanced parentheses in {text!r}")


def expand(text: str, lookup, call) -> str:
    out, i, quote = [], 0, None
    while i < len(text):
        c = text[i]
        if quote == "'":
            out.append(c)
            if c == "'":
                quote = None
            i += 1
            continue
        if c == '"':
            quote = None if quote == '"' else '"'
        elif c == "'" and quote is None:
            quote = "'"
        elif c == "\\" and quote == '"' and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        elif c == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "(":
                end = _close_paren(text, i + 1)
                out.append(call(expand(text[i + 2:end], lookup, call).strip()))
                i = end + 1
                continue
            if nxt == "{":
                end = text.find("}", i)
                if end > 0:
                    value = lookup(text[i + 2:end])
                    out.append(text[i:end + 1] if value is None else value)
                    i = end + 1
                    continue
            m = _NAME.match(text, i + 1)
            if m:
                value = lookup(m.group(0))
                out.append("$" + m.group(0) if value is None else value)
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def words(text: str) -> list[str]:
    """Split at white space outside quotes (Click's cp_shift_spacevec)."""
    out, cur, quote, started = [], [], None, False
    for c in text:
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
        elif c in "\"'":
            quote, started = c, True
            cur.append(c)
        elif c.isspace():
            if started:
                out.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(c)
            started = True
    if started:
        out.append("".join(cur))
    return out


def unquote(text: str) -> str:
    """Click's cp_unquote: remove the quotes of every quoted part."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = i + 1
            while end < len(text) and text[end] != c:
                end += 2 if text[end] == "\\" and c == '"' else 1
            out.append(_unquote(text[i:end + 1]))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# -- functions -----------------------------------------------------------------

def _number(word: str):
    try:
        return int(word, 0) if not re.fullmatch(r"-?0\d+", word) else int(word, 10)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        raise ScriptError(f"expected a number, got {word!r}") from None


def _fmt(x) -> str:
    if isinstance(x, float):
        if x == int(x) and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.6g}" if abs(x) >= 1e-4 else repr(x)
    return str(x)


def _bool(word: str) -> bool:
    t = word.strip().lower()
    if t in ("true", "yes", "1", "t", "y", "on"):
        return True
    if t in ("false", "no", "0", "f", "n", "off", ""):
        return False
    raise ScriptError(f"expected true or false, got {word!r}")


def _tf(b: bool) -> str:
    return "true" if b else "false"


def _arith(op):
    def f(args):
        nums = [_number(w) for w in args]
        if not nums:
            return "0"
        acc = nums[0]
        for x in nums[1:]:
            acc = op(acc, x)
        return _fmt(acc)
    return f


def _div(args):
    nums = [float(_number(w)) for w in args]
    acc = nums[0]
    for x in nums[1:]:
        acc /= x
    return _fmt(acc)


def _idiv(args):
    nums = [_number(w) for w in args]
    acc = float(nums[0])
    for x in nums[1:]:
        acc /= x
    return str(int(acc))


def _two(args):
    if len(args) != 2:
        raise ScriptError("expected two numbers")
    return args


def _compare(test):
    def f(args):
        a, b = _two(args)
        try:
            x, y = _number(a), _number(b)
        except ScriptError:
            x, y = unquote(a), unquote(b)
        return _tf(test(x, y))
    return f


def _mod(args):
    a, b = (_number(w) for w in _two(args))
    if isinstance(a, float) or isinstance(b, float):
        raise ScriptError("expected two integers")
    return str(int(a - b * int(a / b)))   # C's %, sign of the dividend


def _if(args):
    if not args:
        raise ScriptError("'if' expects a condition")
    return (args[1] if len(args) > 1 else "") if _bool(args[0]) else (" ".join(args[2:]))


def _sprintf(args):
    if not args:
        raise ScriptError("'sprintf' expects a format")
    fmt = unquote(args[0])
    values = []
    for spec, w in zip(re.findall(r"%[-+ #0-9.]*[a-zA-Z]", fmt), args[1:]):
        values.append(_number(w) if spec[-1] in "diouxXeEfgGc" else unquote(w))
    try:
        return fmt % tuple(values)
    except (TypeError, ValueError) as e:
        raise ScriptError(f"sprintf: {e}") from None


def _random(args):
    if not args:
        return str(_random.getrandbits(31))
    nums = [int(_number(w)) for w in args]
    lo, hi = (0, nums[0] - 1) if len(nums) == 1 else (nums[0], nums[1])
    return str(_random.randint(lo, hi))


FUNCTIONS = {
    "add": _arith(lambda a, b: a + b),
    "sub": _arith(lambda a, b: a - b),
    "mul": _arith(lambda a, b: a * b),
    "min": _arith(min),
    "max": _arith(max),
    "div": _div,
    "idiv": _idiv,
    "mod": _mod,
    "rem": _mod,
    "neg": lambda a: _fmt(-_number(a[0])),
    "abs": lambda a: _fmt(abs(_number(a[0]))),
    "eq": _compare(lambda a, b: a == b),
    "ne": _compare(lambda a, b: a != b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "not": lambda a: _tf(not _bool(" ".join(a))),
    "and": lambda a: _tf(all(_bool(w) for w in a)),
    "or": lambda a: _tf(any(_bool(w) for w in a)),
    "nand": lambda a: _tf(not all(_bool(w) for w in a)),
    "nor": lambda a: _tf(not any(_bool(w) for w in a)),
    "if": _if,
    "in": lambda a: _tf(bool(a) and a[0] in a[1:]),
    "first": lambda a: a[0] if a else "",
    "sprintf": _sprintf,
    "random": _random,
    "length": lambda a: str(len(unquote(" ".join(a)))),
    "unquote": lambda a: unquote(" ".join(a)),
    "cat": lambda a: "".join(open(unquote(w)).read() for w in a),
    "catq": lambda a: '"' + "".join(open(unquote(w)).read() for w in a).replace('"', '\\"') + '"',
    "htons": lambda a: str(socket.htons(int(_number(a[0])))),
    "ntohs": lambda a: str(socket.ntohs(int(_number(a[0])))),
    "htonl": lambda a: str(socket.htonl(int(_number(a[0])))),
    "ntohl": lambda a: str(socket.ntohl(int(_number(a[0])))),
    "now": lambda a: f"{time.time():.6f}",
}
