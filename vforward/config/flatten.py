"""Syntax tree -> flat list of primitive elements and connections.

Two phases, as Click's lexer does it:

1. compile: each body (the file, every compound) once, in order.  Bare names
   become element references or anonymous elements, anonymous elements get
   their Class@N names, class names resolve to compounds (lexically, and only
   to classes defined *before* the use, as in Click), connection lists become
   single edges, and each compound counts its inputs and outputs.
2. instantiate: walk the compiled file, substituting $variables into
   configuration strings and expanding every compound instance into its
   components (named 'outer/inner').  A compound instance leaves behind two
   tunnel ends, its 'in' and 'out', which resolve_tunnels() jumps over so
   that every connection joins two primitives.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from .errors import ConfigError, Location, did_you_mean
from .parser import (CompoundDef, ConfigAST, ConfigText, ConnectionStmt, DefineStmt, ElementClassStmt,
                     ElementRef, RequireStmt, Source)


@dataclass
class ElementDecl:
    name: str
    class_name: str
    config: str          # raw argument text, variables substituted, comments removed
    loc: Location


@dataclass
class Connection:
    from_name: str
    from_port: int
    to_name: str
    to_port: int
    loc: Location


@dataclass
class FlatConfig:
    elements: list[ElementDecl]
    connections: list[Connection]
    requirements: list[str] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)
    # ConfigErrors that do not stop the build: variables no define or formal
    # provides, left in the text for the element as Click leaves them
    warnings: list[ConfigError] = field(default_factory=list)


def flatten(ast: ConfigAST, defines: dict[str, str] | None = None) -> FlatConfig:
    """Expand compounds and variables; raises ConfigError."""
    src = ast.source
    requirements: list[str] = []
    top = _compile_body(ast.body, {}, None, src, requirements)
    env = _Env(src, None, None, dict(defines or {}), top.defines)
    out = _Output()
    _instantiate(top, "", None, env, [env], out)
    for req in requirements:
        word, _, name = req.partition(" ")
        if word == "package":
            # Click loads element packages; vforward's come from --elements files
            # and installed plugins, which are loaded already: nothing to do here
            env.warnings.append(ConfigError(
                f"require(package {name.strip()}): vforward loads no Click packages; the "
                "elements must come from --elements FILE.py or an installed plugin"))
    resolved = {name: env.lookup(name) for name in [*top.defines, *(defines or {})]}
    return FlatConfig(out.elements, out.resolve_tunnels(), requirements, resolved, env.warnings)


# -- phase 1: compile one body -------------------------------------------------

INPUT, OUTPUT = "input", "output"   # pseudo-elements inside a compound


@dataclass
class _Local:
    """An element declared in one body: a primitive or a compound instance."""
    name: str
    loc: Location
    config: ConfigText | None
    primitive: str | None = None
    compound: _Compound | None = None


@dataclass
class _Edge:
    src: str             # a local name, or INPUT
    sport: int
    dst: str             # a local name, or OUTPUT
    dport: int
    loc: Location


@dataclass
class _Body:
    locals: list[_Local]
    edges: list[_Edge]
    defines: dict[str, tuple[ConfigText, Location]]   # raw values, expanded lazily


@dataclass
class _Compound:
    """A compiled compound class; enclosing is its lexical parent (None: the file)."""
    label: str           # for messages: "elementclass 'Foo'" or "compound element"
    defn: CompoundDef
    enclosing: _Compound | None
    body: _Body | None = None
    ninputs: int = 0
    noutputs: int = 0


@dataclass
class _Overloaded:
    """A compound class with alternatives ('{ A || B }'); an instance takes the
    first whose formals fit its arguments, as in Click."""
    name: str | None
    alternatives: list[_Compound]
    loc: Location


def _compile_compound(defn: CompoundDef, classes: dict, enclosing: _Compound | None,
                      src: Source, requirements: list[str]) -> _Compound | _Overloaded:
    if not defn.overloads and not defn.inherits:
        return _compile_alternative(defn, classes, enclosing, src, requirements)
    alternatives = [_compile_alternative(d, classes, enclosing, src, requirements)
                    for d in [defn, *defn.overloads]]
    if defn.inherits:
        earlier = classes.get(defn.name) if defn.name else None
        if earlier is None or isinstance(earlier, str):
            raise ConfigError(f"'...' adds the alternatives of an earlier 'elementclass "
                              f"{defn.name or 'NAME'}', but there is none before this one", defn.loc)
        alternatives += earlier.alternatives if isinstance(earlier, _Overloaded) else [earlier]
    return _Overloaded(defn.name, alternatives, defn.loc)


def _compile_alternative(defn: CompoundDef, classes: dict, enclosing: _Compound | None,
                         src: Source, requirements: list[str]) -> _Compound:
    label = f"elementclass '{defn.name}'" if defn.name else "the compound element"
    comp = _Compound(label, defn, enclosing)
    comp.body = _compile_body(defn.body, classes, comp, src, requirements)
    formal_names = set()
    for f in defn.formals:
        if f.keyword == REST and f is not defn.formals[-1]:
            raise ConfigError(f"'__REST__ ${f.var}' must be the last parameter of {label}", f.loc)
        if f.var in formal_names or f.var in comp.body.defines:
            raise ConfigError(f"parameter '${f.var}' is declared twice in {label}", f.loc)
        formal_names.add(f.var)
    keywords = [f.keyword for f in defn.formals if f.keyword]
    if len(set(keywords)) != len(keywords):
        raise ConfigError(f"{label} repeats a keyword parameter", defn.loc)
    comp.ninputs = _count_ports(comp, [e.sport for e in comp.body.edges if e.src == INPUT], "input")
    comp.noutputs = _count_ports(comp, [e.dport for e in comp.body.edges if e.dst == OUTPUT], "output")
    return comp


def _count_ports(comp: _Compound, ports: list[int], kind: str) -> int:
    used = set(ports)
    n = max(used) + 1 if used else 0
    for p in range(n):
        if p not in used:
            raise ConfigError(f"{comp.label} uses {kind} {n - 1} but never {kind} {p}; "
                              f"connect every {kind} port from 0 up", comp.defn.loc)
    return n


class _BodyCompiler:
    def __init__(self, stmts: list, classes: dict, owner: _Compound | None, src: Source,
                 requirements: list[str]):
        self.stmts, self.classes, self.owner = stmts, dict(classes), owner
        self.src, self.requirements = src, requirements
        self.declared: dict[str, Location] = {}
        self.taken: set[str] = set()          # declared names and anonymous names so far
        self.locals: list[_Local] = []
        self.by_name: dict[str, _Local] = {}
        self.edges: list[_Edge] = []
        self.defines: dict[str, tuple[ConfigText, Location]] = {}

    def run(self) -> _Body:
        self._collect_declarations()
        for stmt in self.stmts:
            if isinstance(stmt, ConnectionStmt):
                self._connection(stmt)
            elif isinstance(stmt, ElementClassStmt):
                self._elementclass(stmt)
            elif isinstance(stmt, RequireStmt):
                self.requirements.extend(a for a in split_args(strip_comments(stmt.config.text)) if a)
        self._check_compound_ports()
        return _Body(self.locals, self.edges, self.defines)

    # Names first, so a connection may name an element declared further down
    # (Click would insist on declaration before use; nothing is lost by not).
    def _collect_declarations(self) -> None:
        for stmt in self.stmts:
            if isinstance(stmt, DefineStmt):
                self._define(stmt)
            if not isinstance(stmt, ConnectionStmt):
                continue
            for group in stmt.groups:
                for ep in group:
                    el = ep.element
                    if el.kind != "decl":
                        continue
                    if self.owner and el.name in (INPUT, OUTPUT):
                        raise ConfigError(f"'{el.name}' is reserved inside a compound element "
                                          f"for its {el.name}s; choose another name", el.loc)
                    if any(part.isdigit() for part in el.name.split("/")):
                        raise ConfigError(f"element name '{el.name}' has an all-digit part; "
                                          "names need a letter", el.loc)
                    if el.name in self.declared:
                        first = self.declared[el.name]
                        # Click's wording, on two lines: each place to look at
                        raise ConfigError(f"redeclaration of element '{el.name}'\n"
                                          f"{first.file}:{first.line}: element '{el.name}' "
                                          "previously declared here", el.loc)
                    self.declared[el.name] = el.loc
        self.taken = set(self.declared)

    def _define(self, stmt: DefineStmt) -> None:
        for start, text in split_args_at(stmt.config.text):
            text = blank_comments(text)
            m = re.match(r"\s*\$([A-Za-z0-9_]+)(?=\s|$)", text)
            loc = self.src.loc(stmt.config.offset + start + (m.start(1) - 1 if m else 0))
            if not m:
                if strip_comments(text).strip():
                    raise ConfigError(f"define() takes '$NAME value' items, not '{text.strip()}'", loc)
                continue
            var = m.group(1)
            if var in self.defines:
                raise ConfigError(f"variable '${var}' is defined twice: first at {self.defines[var][1]}", loc)
            value = ConfigText(text[m.end():], stmt.config.offset + start + m.end(), loc)
            self.defines[var] = (value, loc)

    def _elementclass(self, stmt: ElementClassStmt) -> None:
        if stmt.compound is not None:
            self.classes[stmt.name] = _compile_compound(stmt.compound, self.classes, self.owner,
                                                        self.src, self.requirements)
        else:
            self.classes[stmt.name] = self._class(stmt.synonym, stmt.loc)

    def _class(self, name: str, loc: Location) -> _Compound | str:
        """A compound visible here, or else the name of a primitive class."""
        if name in self.classes:
            return self.classes[name]
        c = self.owner
        while c is not None:                 # a class may not use itself
            if c.defn.name == name:
                raise ConfigError(f"elementclass '{name}' uses itself; compound elements cannot "
                                  f"be recursive (the definition starts at {c.defn.loc})", loc)
            c = c.enclosing
        return name

    # -- connections

    def _connection(self, stmt: ConnectionStmt) -> None:
        groups = [[(self._element(ep.element), ep) for ep in group] for group in stmt.groups]
        for name, ep in groups[-1]:
            if ep.outports is not None:
                raise ConfigError(f"output port {ep.outports} after '{name}' connects to nothing: "
                                  "the statement ends here", ep.outport_loc)
        for (connector, loc), left, right in zip(stmt.connectors, groups, groups[1:]):
            outs = [(n, p) for n, ep in left for p in (ep.outports or self._all_ports(n, connector, False))]
            ins = [(n, p) for n, ep in right for p in (ep.inports or self._all_ports(n, connector, True))]
            for (s, sp), (d, dp) in _pair(outs, ins, left, right, connector, loc):
                if s == OUTPUT or d == INPUT:
                    bad = s if s == OUTPUT else d
                    raise ConfigError(f"'{bad}' is used the wrong way round: inside a compound, write "
                                      "'input -> ...' and '... -> output'", loc)
                self.edges.append(_Edge(s, sp, d, dp, loc))

    def _all_ports(self, name: str, connector: str, inputs: bool) -> list[int]:
        """The ports a bare name offers to '=>': all of a compound's (whose
        count is known here), port 0 of anything else."""
        local = self.by_name.get(name)
        if connector != "=>" or local is None or local.compound is None:
            return [0]
        n = local.compound.ninputs if inputs else local.compound.noutputs
        return list(range(max(n, 1)))

    def _element(self, el: ElementRef) -> str:
        """The local name el stands for, declaring it if el declares."""
        if el.kind == "decl":
            cls = self._compound(el.compound) if el.compound else self._class(el.class_name, el.loc)
            return self._declare(el.name, cls, el)
        if el.kind == "compound":
            return self._declare(self._anonymous_name(""), self._compound(el.compound), el)
        name = el.name
        if self.owner and name in (INPUT, OUTPUT):
            if el.config is not None:
                raise ConfigError(f"'{name}' takes no configuration", el.config.loc)
            return name
        if name in self.declared:
            if el.config is not None:
                raise ConfigError(f"'{name}' is an element declared at {self.declared[name]}; a "
                                  "configuration goes only where an element is declared", el.config.loc)
            return name
        if el.config is not None or name in self.classes or name[:1].isupper():
            return self._declare(self._anonymous_name(name), self._class(name, el.loc), el)
        raise ConfigError(self._undeclared_message(name), el.loc)

    def _undeclared_message(self, name: str) -> str:
        if not self.owner and name in (INPUT, OUTPUT):
            return f"'{name}' means something only inside a compound element ('elementclass X {{ ... }}')"
        known = list(self.declared) + ([INPUT, OUTPUT] if self.owner else [])
        hint = did_you_mean(name, known)
        if hint:
            return f"element '{name}' is not declared; did you mean '{hint}'?"
        return f"element '{name}' is not declared; declare it with '{name} :: Class(...)'"

    def _compound(self, defn: CompoundDef) -> _Compound:
        return _compile_compound(defn, self.classes, self.owner, self.src, self.requirements)

    def _anonymous_name(self, class_name: str) -> str:
        # Click: Class@N, N the element's position in this body counting from 1,
        # bumped past any name already in use.
        n = len(self.locals) + 1
        while f"{class_name}@{n}" in self.taken:
            n += 1
        return f"{class_name}@{n}"

    def _declare(self, name: str, cls: _Compound | _Overloaded | str, el: ElementRef) -> str:
        local = _Local(name, el.loc, el.config)
        if isinstance(cls, _Overloaded):
            cls = _choose(cls, el)
        if isinstance(cls, str):
            local.primitive = cls
        else:
            local.compound = cls
        self.taken.add(name)
        self.locals.append(local)
        self.by_name[name] = local
        return name

    def _check_compound_ports(self) -> None:
        for e in self.edges:
            for name, port, kind in ((e.src, e.sport, "output"), (e.dst, e.dport, "input")):
                local = self.by_name.get(name)
                if local is None or local.compound is None:
                    continue
                n = local.compound.ninputs if kind == "input" else local.compound.noutputs
                if port >= n:
                    have = f"{n} {kind}" + ("s" if n != 1 else "")
                    raise ConfigError(f"'{name}' ({local.compound.label}) has {have}, so it has no "
                                      f"{kind} port {port}", e.loc)


def _choose(cls: _Overloaded, el: ElementRef) -> _Compound:
    """The first alternative whose formals fit el's arguments (as written:
    the choice is made before variables are substituted)."""
    args = split_args(strip_comments(el.config.text)) if el.config is not None else []
    for alt in cls.alternatives:
        if _assign(alt, args) is not None:
            return alt
    shapes = "; ".join(", ".join((f.keyword + " " if f.keyword else "") + "$" + f.var
                                 for f in alt.defn.formals) or "no arguments"
                       for alt in cls.alternatives)
    raise ConfigError(f"no alternative of elementclass '{cls.name}' takes {len(args)} argument"
                      f"{'' if len(args) == 1 else 's'} ({', '.join(args) or 'none'}); "
                      f"its alternatives take: {shapes}", el.loc)


def _compile_body(stmts, classes, owner, src, requirements) -> _Body:
    return _BodyCompiler(stmts, classes, owner, src, requirements).run()


def _pair(outs, ins, left: list, right: list, connector: str, loc: Location):
    """Click 2.1's connection lists.

    '->' connects one output to many inputs (fan-out) or many outputs to one
    input (fan-in).  '=>' connects lists pairwise; a lone element without
    port brackets on one side offers ports 0, 1, ... to match the other.
    """
    if connector == "=>":
        if len(outs) == 1 and len(ins) > 1 and left[0][1].outports is None:
            outs = [(outs[0][0], p) for p in range(len(ins))]
        elif len(ins) == 1 and len(outs) > 1 and right[0][1].inports is None:
            ins = [(ins[0][0], p) for p in range(len(outs))]
        if len(outs) != len(ins) and len(outs) > 1 and len(ins) > 1:
            raise ConfigError(f"'=>' connects outputs to inputs in pairs, but here are {len(outs)} "
                              f"outputs and {len(ins)} inputs", loc)
    if len(outs) > 1 and len(ins) > 1:
        if connector == "=>":
            return list(zip(outs, ins))
        raise ConfigError(f"'->' cannot connect {len(outs)} outputs to {len(ins)} inputs; "
                          "use '=>' to connect them in pairs", loc)
    return [(o, i) for o in outs for i in ins]


# -- configuration text ----------------------------------------------------------

# $NAME, ${NAME}, and ${NAME[I]}: word I of NAME's value (I a number or a $variable)
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)(?:\[(\$?[A-Za-z0-9_]+)\])?\}|([A-Za-z0-9_]+))")


def _scan(text: str):
    """Yield (index, kind, extra) for each spot that matters to Click:
    ('comment', end offset), ('var', regex match), ('comma', None).

    Quotes follow Click's cp_expand: no variables inside '...', backslash
    escapes inside "...", and nothing in either is a comment or a comma.
    """
    i, quote, n = 0, None, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
            elif c == "$" and quote == '"':
                m = _VAR.match(text, i)
                if m:
                    yield i, "var", m
                    i = m.end()
                    continue
            i += 1
        elif c in "\"'":
            quote = c
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield i, "comment", end
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            yield i, "comment", end
            i = end
        elif c == "$" and (m := _VAR.match(text, i)):
            yield i, "var", m
            i = m.end()
        else:
            if c == ",":
                yield i, "comma", None
            i += 1


def strip_comments(text: str) -> str:
    """Comments become single spaces, as in Click."""
    out, last = [], 0
    for i, kind, end in _scan(text):
        if kind == "comment":
            out += [text[last:i], " "]
            last = end
    return "".join(out + [text[last:]])


def blank_comments(text: str) -> str:
    """Comments become spaces of the same length (newlines kept), so offsets still hold."""
    out, last = [], 0
    for i, kind, end in _scan(text):
        if kind == "comment":
            out += [text[last:i], "".join(c if c == "\n" else " " for c in text[i:end])]
            last = end
    return "".join(out + [text[last:]])


def split_args_at(text: str) -> list[tuple[int, str]]:
    """Split at commas outside quotes and comments: (start, piece) pairs."""
    pieces, start = [], 0
    for i, kind, _ in _scan(text):
        if kind == "comma":
            pieces.append((start, text[start:i]))
            start = i + 1
    pieces.append((start, text[start:]))
    return pieces


def split_args(text: str) -> list[str]:
    """Click's argument list: split at commas, strip; a trailing empty one dropped."""
    args = [piece.strip() for _, piece in split_args_at(text)]
    return args[:-1] if args and not args[-1] else args


class _Env:
    """Variables of one scope: the file's defines, or one compound instance."""

    def __init__(self, src: Source, owner: _Compound | None, parent: _Env | None,
                 values: dict[str, str], raw: dict[str, tuple[ConfigText, Location]]):
        self.src, self.owner, self.parent = src, owner, parent
        self.values = dict(values)       # final text
        self.raw = {k: v for k, v in raw.items() if k not in self.values}
        self._resolving: set[str] = set()
        self.warnings: list[ConfigError] = parent.warnings if parent is not None else []

    def lookup(self, var: str) -> str | None:
        env = self
        while env is not None:
            if var in env.values:
                return env.values[var]
            if var in env.raw:
                return env._resolve(var)
            env = env.parent
        return None

    def _resolve(self, var: str) -> str:
        text, loc = self.raw[var]
        if var in self._resolving:
            raise ConfigError(f"variable '${var}' is defined in terms of itself", loc)
        self._resolving.add(var)
        self.values[var] = expand(text, self)
        self._resolving.discard(var)
        return self.values[var]

    def names(self) -> list[str]:
        env, names = self, []
        while env is not None:
            names += [*env.values, *env.raw]
            env = env.parent
        return names


# Elements that keep variables of their own at run time: an unknown $x in
# their configuration is theirs, not a mistake worth a warning.
OWN_VARIABLES = {"Script", "DriverManager"}


def expand(config: ConfigText | None, env: _Env, class_name: str | None = None) -> str:
    """Configuration text as the element sees it: $variables substituted,
    comments replaced by a space, surrounding whitespace stripped.

    A variable that no define or formal provides stays as written, for the
    element (Click's rule: Script sets and reads its own at run time); it
    earns a warning unless the element keeps variables of its own."""
    if config is None:
        return ""
    text, out, last = config.text, [], 0
    for i, kind, extra in _scan(text):
        if kind == "comment":
            out += [text[last:i], " "]
            last = extra
        elif kind == "var":
            var = extra.group(1) or extra.group(3)
            loc = env.src.loc(config.offset + i)
            value = env.lookup(var)
            if value is not None and extra.group(2) is not None:
                value = _word_at(value, extra.group(2), env)
            if value is None:
                if class_name not in OWN_VARIABLES:
                    env.warnings.append(ConfigError(_undefined_message(var, env), loc))
                value = extra.group(0)
            out += [text[last:i], value]
            last = extra.end()
    return "".join(out + [text[last:]]).strip()


def _word_at(value: str, index: str, env: _Env) -> str:
    """Click's ${a[I]}: the I-th space-separated word of value ('' past the end)."""
    if index.startswith("$"):
        index = env.lookup(index[1:]) or ""
    try:
        i = int(index.strip())
    except ValueError:
        return ""
    words = value.split()
    return words[i] if 0 <= i < len(words) else ""


def _undefined_message(var: str, env: _Env) -> str:
    msg = f"variable '${var}' is not defined"
    hint = did_you_mean(var, env.names())
    if hint:
        return msg + f"; did you mean '${hint}'?"
    if env.owner is not None:
        formals = ", ".join("$" + f.var for f in env.owner.defn.formals) or "none"
        return msg + f" ({env.owner.label} has parameters: {formals})"
    return msg + f"; define it with 'define(${var} value)' or on the command line as {var}=value"


# -- phase 2: instantiate ------------------------------------------------------------

class _Output:
    def __init__(self):
        self.elements: list[ElementDecl] = []
        self.where: dict[str, Location] = {}
        self.edges: list[tuple] = []         # (src key, port, dst key, port, loc)

    def add_element(self, decl: ElementDecl) -> None:
        if decl.name in self.where:
            raise ConfigError(f"element name '{decl.name}' is used twice: at {self.where[decl.name]} "
                              f"and by a compound element's component declared at {decl.loc}", decl.loc)
        self.where[decl.name] = decl.loc
        self.elements.append(decl)

    def resolve_tunnels(self) -> list[Connection]:
        """Jump over compound 'in'/'out' tunnel ends: every connection then
        joins two primitives.  Ports nobody connects from outside vanish,
        as do tunnel cycles (as in Click)."""
        leaving = defaultdict(list)
        for src, sport, dst, dport, _ in self.edges:
            leaving[(src, sport)].append((dst, dport))

        def reach(node, port, seen):
            if node[0] == "e":
                yield node[1], port
            elif (node, port) not in seen:
                seen.add((node, port))
                for nxt, nport in leaving[(node, port)]:
                    yield from reach(nxt, nport, seen)

        result, done = [], set()
        for src, sport, dst, dport, loc in self.edges:
            if src[0] != "e":
                continue
            for to, tport in reach(dst, dport, set()):
                key = (src[1], sport, to, tport)
                if key not in done:
                    done.add(key)
                    result.append(Connection(src[1], sport, to, tport, loc))
        return result


def _instantiate(body: _Body, prefix: str, self_name: str | None, env: _Env,
                 stack: list[_Env], out: _Output, named_prefix: str | None = None) -> None:
    def full_name(name: str) -> str:
        # in a '( ... )' group, declared names belong to the enclosing scope
        if named_prefix is not None and "@" not in name:
            return named_prefix + name
        return prefix + name

    for local in body.locals:
        full = full_name(local.name)
        if local.primitive is not None:
            out.add_element(ElementDecl(full, local.primitive,
                                        expand(local.config, env, local.primitive), local.loc))
            continue
        comp = local.compound
        args = split_args(expand(local.config, env))
        lexical = next(e for e in reversed(stack) if e.owner is comp.enclosing)
        child = _Env(env.src, comp, lexical, _bind(comp, args, local), comp.body.defines)
        _instantiate(comp.body, full + "/", full, child, stack + [child], out,
                     (named_prefix if "@" not in local.name and named_prefix is not None else prefix)
                     if comp.defn.is_group else None)

    by_name = {local.name: local for local in body.locals}

    def key(name: str, as_source: bool) -> tuple[str, str]:
        if name == INPUT:
            return ("in", self_name)
        if name == OUTPUT:
            return ("out", self_name)
        if by_name[name].primitive is not None:
            return ("e", full_name(name))
        return ("out" if as_source else "in", full_name(name))

    for e in body.edges:
        out.edges.append((key(e.src, True), e.sport, key(e.dst, False), e.dport, e.loc))


REST = "__REST__"   # a formal 'KEYWORD' that collects the arguments no other formal takes


def _assign(comp: _Compound, args: list[str]) -> dict[str, str] | None:
    """Click's cp_assign_arguments: the formals' values, or None when args do
    not fit (every positional and keyword formal must get a value; leftovers
    only go to a __REST__ formal, joined with ', ')."""
    formals = comp.defn.formals
    rest = formals[-1] if formals and formals[-1].keyword == REST else None
    positional = [f for f in formals if f.keyword is None]
    keywords = {f.keyword: f for f in formals if f.keyword and f is not rest}
    if not keywords and rest is None:
        if len(args) != len(positional):
            return None
        return {f.var: v for f, v in zip(positional, args)}
    values, given, leftover = {}, [], []
    for arg in args:
        word, value = (arg.split(None, 1) + [""])[:2] if arg else ("", "")
        if word in keywords and word not in values:
            values[word] = value.strip()
        elif len(given) < len(positional):
            given.append(arg)
        elif rest is not None:
            leftover.append(arg)
        else:
            return None
    if len(given) != len(positional) or len(values) != len(keywords):
        return None
    bound = {f.var: v for f, v in zip(positional, given)}
    bound.update({keywords[k].var: v for k, v in values.items()})
    if rest is not None:
        bound[rest.var] = ", ".join(leftover)
    return bound


def _bind(comp: _Compound, args: list[str], local: _Local) -> dict[str, str]:
    """Match a compound's arguments to its formals, or say why they do not fit."""
    bound = _assign(comp, args)
    if bound is not None:
        return bound
    formals = comp.defn.formals
    positional = [f for f in formals if f.keyword is None]
    keywords = {f.keyword: f for f in formals if f.keyword and f.keyword != REST}
    where = f"'{local.name}' ({comp.label})"
    values, given = {}, []
    for arg in args:
        word, rest = (arg.split(None, 1) + [""])[:2] if arg else ("", "")
        if word in keywords:
            if word in values:
                raise ConfigError(f"{where} is given keyword {word} twice", local.loc)
            values[word] = rest.strip()
        else:
            given.append(arg)
    if len(given) != len(positional):
        extra = [a.split()[0] for a in given[len(positional):] if re.match(r"[A-Z_][A-Z0-9_]*\s", a)]
        if extra and keywords:
            hint = did_you_mean(extra[0], keywords)
            raise ConfigError(f"{where} has no keyword parameter {extra[0]}"
                              + (f"; did you mean {hint}?" if hint else
                                 f"; its keywords are {', '.join(keywords)}"), local.loc)
        want = ", ".join("$" + f.var for f in positional) or "none"
        raise ConfigError(f"{where} takes {len(positional)} positional argument"
                          f"{'' if len(positional) == 1 else 's'} ({want}) but was given {len(given)}",
                          local.loc)
    missing = [k for k in keywords if k not in values]
    raise ConfigError(f"{where} needs the keyword argument {missing[0]} (write '{missing[0]} value')"
                      if missing else f"{where}: these arguments fit none of its parameters",
                      local.loc)
