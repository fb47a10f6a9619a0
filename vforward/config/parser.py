"""Click configuration text -> syntax tree (click.lark does the parsing).

The tree keeps Click's surface forms (element lists, port lists, compound
bodies, raw configuration strings); flatten.py gives them meaning.  Lark's
exceptions never leave this module: they become ConfigErrors that say what
was expected where.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .errors import ConfigError, Location


class Source:
    """The text of one configuration file, and offset -> Location."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        # The C preprocessor's line markers ('# 12 "file"'): a config run through
        # cpp (Click's usual #include) reports places in the files it came from.
        self._markers: list[tuple[int, int, str]] = []      # (physical line, line, file)
        for m in _LINE_MARKER.finditer(text):
            physical = text.count("\n", 0, m.start()) + 1
            self._markers.append((physical, int(m.group(1)), m.group(2)))
        self._marker_lines = [p for p, _, _ in self._markers]

    def _at(self, line: int, column: int) -> Location:
        i = bisect.bisect_left(self._marker_lines, line) - 1
        if i < 0:
            return Location(self.filename, line, column)
        physical, first, file = self._markers[i]
        return Location(file, first + line - physical - 1, column)

    def loc(self, offset: int) -> Location:
        line = bisect.bisect_right(self._line_starts, offset)
        return self._at(line, offset - self._line_starts[line - 1] + 1)

    def token_loc(self, tok: Token) -> Location:
        return self._at(tok.line, tok.column)


_LINE_MARKER = re.compile(r'^[ \t]*#[ \t]*(?:line[ \t]+)?(\d+)[ \t]+"([^"\n]*)"', re.M)


# -- the syntax tree ---------------------------------------------------------

@dataclass
class ConfigText:
    """A configuration string exactly as written between the parentheses."""
    text: str
    offset: int          # where text starts in the source
    loc: Location        # of the opening parenthesis


@dataclass
class ElementRef:
    """One element position in a statement.

    kind 'name': a bare NAME or NAME(config): a reference to a declared
    element, or an anonymous element of class NAME (decided when flattening).
    kind 'decl': name :: Class(config) or name :: {compound}(config).
    kind 'compound': an anonymous {compound}(config).
    """
    kind: str
    name: str | None
    loc: Location
    class_name: str | None = None
    compound: CompoundDef | None = None
    config: ConfigText | None = None


@dataclass
class Endpoint:
    element: ElementRef
    inports: list[int] | None = None
    outports: list[int] | None = None
    outport_loc: Location | None = None


@dataclass
class ConnectionStmt:
    """groups[0] connector[0] groups[1] ...; one group is a comma list."""
    groups: list[list[Endpoint]]
    connectors: list[tuple[str, Location]]


@dataclass
class Formal:
    var: str                 # without the '$'
    keyword: str | None      # 'KEY' for 'KEY $k', None for positional
    loc: Location


@dataclass
class CompoundDef:
    formals: list[Formal]
    body: list
    loc: Location
    name: str | None = None  # set by 'elementclass NAME {...}'
    # '{ A || B || ... }': the alternatives after the first, tried in order,
    # and whether a closing '...' adds those of the class's earlier definition
    overloads: list[CompoundDef] = field(default_factory=list)
    inherits: bool = False
    # a '( ... )' group: the elements it declares by name keep that name in
    # the enclosing scope, as in Click
    is_group: bool = False


@dataclass
class ElementClassStmt:
    name: str
    loc: Location
    compound: CompoundDef | None = None
    synonym: str | None = None   # 'elementclass New Existing'


@dataclass
class RequireStmt:
    config: ConfigText


@dataclass
class DefineStmt:
    config: ConfigText


@dataclass
class ConfigAST:
    body: list
    source: Source = field(repr=False)


# -- parsing -----------------------------------------------------------------

@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files(__package__).joinpath("click.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual")


def parse(text: str, filename: str = "<config>") -> ConfigAST:
    """Parse configuration text into a ConfigAST; raises ConfigError."""
    source = Source(text, filename)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, source) from None
    return ConfigAST(_Builder(source).body(tree.children), source)


class _Builder:
    """Lark tree -> dataclasses above."""

    def __init__(self, source: Source):
        self.src = source

    def body(self, stmts: list[Tree]) -> list:
        return [getattr(self, "_" + t.data)(t) for t in stmts]

    def _connection(self, t: Tree) -> ConnectionStmt:
        groups, connectors = [], []
        for child in t.children:
            if isinstance(child, Token):
                connectors.append((str(child), self.src.token_loc(child)))
            else:
                groups.append([self._endpoint(ep) for ep in child.children])
        _spread_declaration(groups)
        return ConnectionStmt(groups, connectors)

    def _endpoint(self, t: Tree) -> Endpoint:
        ep = Endpoint(self._element(next(c for c in t.children if c.data not in ("inport", "outport"))))
        for c in t.children:
            if c.data == "inport":
                ep.inports = self._ports(c.children[0])
            elif c.data == "outport":
                ep.outports = self._ports(c.children[0])
                ep.outport_loc = self.src.token_loc(c.children[0].children[0])
        return ep

    def _ports(self, t: Tree) -> list[int]:
        ports = []
        for tok in t.children:
            if not re.fullmatch(r"[0-9]+", tok):
                raise ConfigError(f"port number must be a nonnegative integer, not '{tok}'",
                                  self.src.token_loc(tok))
            ports.append(int(tok))
        return ports

    def _element(self, t: Tree) -> ElementRef:
        kids = t.children
        config = self._config(kids[-1]) if isinstance(kids[-1], Tree) and kids[-1].data == "config" else None
        if t.data == "named":
            return ElementRef("name", str(kids[0]), self.src.token_loc(kids[0]), config=config)
        if t.data == "anon_group":
            compound = self._group(kids[0])
            return ElementRef("compound", None, compound.loc, compound=compound)
        if t.data == "anon_compound":
            compound = self._compound(kids[0])
            return ElementRef("compound", None, compound.loc, compound=compound, config=config)
        spec = kids[2].children[0]          # declaration: NAME '::' class_spec config?
        ref = ElementRef("decl", str(kids[0]), self.src.token_loc(kids[0]), config=config)
        if isinstance(spec, Token):
            ref.class_name = str(spec)
        else:
            ref.compound = self._compound(spec)
        return ref

    def _group(self, t: Tree) -> CompoundDef:
        """'( [0] -> X -> [0]; ... )' as the compound '{ input[0] -> X -> [0]output; ... }'."""
        stmts = []
        for g in t.children:
            if not isinstance(g, Tree):
                continue
            groups, connectors = [], []
            for child in g.children:
                if isinstance(child, Token):
                    connectors.append((str(child), self.src.token_loc(child)))
                    continue
                group = []
                for item in child.children:
                    inner = item.children[0]
                    if inner.data == "port":
                        pseudo = "input" if child.data == "ghead_list" else "output"
                        tok = inner.children[0]
                        ep = Endpoint(ElementRef("name", pseudo, self.src.token_loc(tok)))
                        ports = self._ports(inner)
                        if pseudo == "input":
                            ep.outports, ep.outport_loc = ports, self.src.token_loc(tok)
                        else:
                            ep.inports = ports
                        group.append(ep)
                    else:
                        group.append(self._endpoint(inner))
                groups.append(group)
            stmts.append(ConnectionStmt(groups, connectors))
        return CompoundDef([], stmts, self.src.token_loc(t.children[0]), is_group=True)

    def _compound(self, t: Tree) -> CompoundDef:
        alternatives, inherits = [], False
        for c in t.children[1:]:
            if isinstance(c, Token):
                inherits = inherits or c.type == "ELLIPSIS"
                continue
            loc = self.src.token_loc(t.children[0]) if not alternatives else self._first_loc(c)
            alternatives.append(self._alternative(c, loc))
        first = alternatives[0]
        first.overloads, first.inherits = alternatives[1:], inherits
        return first

    def _first_loc(self, t: Tree) -> Location:
        for tok in t.scan_values(lambda v: isinstance(v, Token)):
            return self.src.token_loc(tok)
        return Location(self.src.filename, 0, 0)

    def _alternative(self, t: Tree, loc: Location) -> CompoundDef:
        formals, stmts = [], []
        for c in t.children:
            if c.data == "formals":
                formals = [self._formal(f) for f in c.children]
            else:
                stmts.append(c)
        return CompoundDef(formals, self.body(stmts), loc)

    def _formal(self, t: Tree) -> Formal:
        var = t.children[-1]
        keyword = str(t.children[0]) if len(t.children) == 2 else None
        return Formal(str(var)[1:], keyword, self.src.token_loc(t.children[0]))

    def _config(self, t: Tree) -> ConfigText:
        lpar, rpar = t.children[0], t.children[-1]
        return ConfigText(self.src.text[lpar.end_pos:rpar.start_pos], lpar.end_pos, self.src.token_loc(lpar))

    def _elementclass(self, t: Tree) -> ElementClassStmt:
        name, what = t.children
        stmt = ElementClassStmt(str(name), self.src.token_loc(name))
        if isinstance(what, Token):
            stmt.synonym = str(what)
        else:
            stmt.compound = self._compound(what)
            for alt in [stmt.compound, *stmt.compound.overloads]:
                alt.name = stmt.name
        return stmt

    def _require(self, t: Tree) -> RequireStmt:
        return RequireStmt(self._config(t.children[0]))

    def _define(self, t: Tree) -> DefineStmt:
        return DefineStmt(self._config(t.children[0]))


def _spread_declaration(groups: list[list[Endpoint]]) -> None:
    """'a, b :: Class(config);' declares both a and b, as in Click.

    Only for a statement that is one bare list (no connection, no ports)
    whose last item is a declaration and the others plain names.
    """
    if len(groups) != 1 or len(groups[0]) < 2:
        return
    *names, last = groups[0]
    if last.element.kind != "decl" or last.outports is not None:
        return
    if all(ep.element.kind == "name" and ep.element.config is None and ep.outports is None for ep in names):
        for ep in names:
            ep.element.kind = "decl"
            ep.element.class_name = last.element.class_name
            ep.element.compound = last.element.compound
            ep.element.config = last.element.config


# -- syntax errors -----------------------------------------------------------

_DESCRIPTIONS = {
    "CONNECTOR": "'->'", "RPAR": "')'", "RSQB": "']'", "RBRACE": "'}'",
    "PORT": "a port number", "NAME": "a name", "VARIABLE": "a parameter such as '$x'",
    "VBAR": "'|'", "LBRACE": "'{'", "DCOLON": "'::'", "LPAR": "'('",
    "COMMA": "','", "SEMICOLON": "';'",
}
_NAME_RE = re.compile(r"[A-Za-z0-9_@]+(?:/[A-Za-z0-9_@]+)*")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', re.S)


def _expected(names: set[str]) -> str:
    if "CONNECTOR" in names:        # after an element: go on, or end the statement
        picks = ["'->'", "';'"]
    elif "RPAR" in names:           # inside a configuration string
        picks = ["')'"]
    else:
        picks = [d for n, d in _DESCRIPTIONS.items() if n in names][:3]
    if not picks:
        return "something else"
    return picks[0] if len(picks) == 1 else ", ".join(picks[:-1]) + " or " + picks[-1]


def _found(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the file"
    for punct in ("->", "=>", "::"):
        if text.startswith(punct, pos):
            return f"'{punct}'"
    m = _NAME_RE.match(text, pos)
    if m:
        return f"'{m.group()}'"
    return "a string" if text[pos] in "\"'" else f"'{text[pos]}'"


def _previous(e: UnexpectedInput, expected: set[str], text: str) -> str:
    history = getattr(e, "token_history", None)
    if not history or history[-1] is None:
        return ""
    tok = history[-1]
    if tok.type == "NAME" and "CONNECTOR" in expected:
        what = "class" if text[:tok.start_pos].rstrip().endswith("::") else "element"
        return f" after {what} '{tok}'"
    return f" after '{tok}'"


def _unclosed(e: UnexpectedInput) -> Token | None:
    """The innermost '(' or '{' still open when the parser stopped."""
    stack = getattr(getattr(e, "state", None), "value_stack", None) or []
    for item in reversed(stack):
        if isinstance(item, Token) and item.type in ("LPAR", "LBRACE"):
            return item
    return None


def _syntax_error(e: UnexpectedInput, src: Source) -> ConfigError:
    text = src.text
    if isinstance(e, UnexpectedCharacters):
        pos, expected = e.pos_in_stream, set(e.allowed or ())
    elif isinstance(e, UnexpectedToken) and e.token.type != "$END":
        pos, expected = e.token.start_pos, set(e.expected)
    else:                                   # the text ended too soon
        opener = _unclosed(e)
        if opener is not None:
            close = ")" if opener.type == "LPAR" else "}"
            return ConfigError(f"this '{opener}' is never closed: expected '{close}' before the end of the file",
                               src.token_loc(opener))
        return ConfigError(f"unexpected end of file: expected {_expected(set(e.expected))}", src.loc(len(text)))
    if text[pos] in "\"'" and not _STRING_RE.match(text, pos):
        return ConfigError(f"unterminated string: this {text[pos]} is never closed", src.loc(pos))
    if text.startswith("/*", pos):
        return ConfigError("unterminated comment: this '/*' has no matching '*/'", src.loc(pos))
    return ConfigError(f"expected {_expected(expected)}{_previous(e, expected, text)}, not {_found(text, pos)}",
                       src.loc(pos))
