"""Script and DriverManager: timed and packet-driven scripts of handler calls."""
from __future__ import annotations

import sys

from vforward.args import ArgumentError, seconds
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler

from .script_expand import FUNCTIONS, ScriptError, expand, unquote, words

TYPES = ("ACTIVE", "PASSIVE", "PACKET", "PUSH", "PROXY", "DRIVER")
_WITH_VAR = {"init", "initq", "export", "exportq", "set", "setq", "return", "returnq"}
_BARE = {"end", "exit", "stop", "loop"}
_TEXT = {"print", "printq", "printn", "printnq", "read", "readq", "write", "writeq", "goto",
         "error", "errorq"}
_MAX_JUMPS = 1000


class Script(Element):
    """Script([TYPE,] INSTRUCTIONS...) -- script a router's handlers

    Ports: none, except a PACKET script: any number of inputs and outputs.

    Runs INSTRUCTIONS, one per argument, in order.  Expressions in an
    instruction are expanded when it runs: `$x` and `${x}` are the script's
    variables, `$(add $x 1)` calls one of Script's functions (add sub mul
    div idiv min max mod rem neg abs eq ne lt le gt ge not and or if in
    first sprintf random length unquote now ...), and `$(c.count)` reads a
    handler.  Text inside single quotes is not expanded.

    TYPE is ACTIVE (the default: run once the router starts), PASSIVE (run
    only when a handler asks: `run`, `step`, `goto`), PACKET (run for every
    packet arriving on an input, with $input its port; `return N` sends the
    packet to output N, `end` to output 0, anything else drops it) or
    DRIVER (DriverManager: the router stops when the script ends, and each
    request to stop the router -- InfiniteSource's STOP, another script's
    `stop` -- advances the script by one step instead).

    Instructions:
      init VAR EXPR      set VAR once, when the router initializes
      export VAR [EXPR]  as init, and make VAR a read/write handler
      set VAR EXPR       set VAR (setq: and remove its quotes)
      print [>FILE|>>FILE] TEXT|HANDLER   print text, or a read handler's value,
                         to standard output or FILE (printn: no newline)
      read HANDLER [ARGS]   print 'element.handler:' and its value on standard error
      write HANDLER [ARGS]  call a write handler; $? is then 0, or -1 on failure
      wait TIME          wait that long (e.g. 10ms, 1.5s)
      wait / pause [N]   wait for N steps (writes to `step`, or stop requests);
                         also wait_step and wait_stop (wait_time and wait_for: timed)
      label L            a target for goto
      goto L [COND]      jump to L if COND is true (or always); 'begin' is the start
      loop               go back to the start
      return [VALUE]     end, setting the return value (PACKET: the output port)
      end                end the script
      exit               end the script (PACKET: drop the packet)
      stop               ask the router to stop
      error [MSG]        print MSG as an error and end

    Handlers:
      step (write)       advance by N steps (default 1) past 'wait' or 'pause'
      goto (write)       jump to label and run from there
      run (read/write)   run from the start; reading returns the return value
      get (read, VAR)    a variable's value; set (write, "VAR VALUE") sets one;
                         shift (read, VAR) removes and returns its first word
      VAR (read/write)   each exported variable
      add, sub, ..., if (read with argument)   the functions above
    """
    PORTS = "-/-"
    PROCESSING = AGNOSTIC
    DEFAULT_TYPE = None

    def configure(self, args):
        raw = args.raw
        self.type = self.DEFAULT_TYPE
        if raw and words(raw[0])[:1] == ["TYPE"]:
            rest = words(raw[0])[1:]
            if len(rest) != 1 or rest[0] not in TYPES:
                raise ArgumentError(f"{args.where}: bad TYPE {' '.join(rest)!r}; "
                                    f"expected one of {', '.join(TYPES)}")
            self.type = "PACKET" if rest[0] == "PUSH" else rest[0]
            raw = raw[1:]
        self.insns: list[tuple[str, str, str]] = []     # (op, variable or label, text)
        self.vars: dict[str, str] = {}
        self.exported: list[str] = []
        for item in raw:
            w = words(item)
            if not w:
                continue
            op, text = w[0], item.strip()[len(w[0]):].strip()
            if op in _WITH_VAR:
                if op.startswith("return"):
                    var, value = "_", text
                else:
                    parts = text.split(None, 1)
                    if not parts or (op.startswith("set") and len(parts) < 2):
                        raise ArgumentError(f"{args.where}: syntax error at '{op}': "
                                            f"write '{op} VARIABLE VALUE'")
                    var, value = parts[0], (parts[1] if len(parts) > 1 else "")
                    if op.startswith("export"):
                        self.exported.append(var)
                self.insns.append((op, var, value))
            elif op == "label":
                if len(text.split()) != 1:
                    raise ArgumentError(f"{args.where}: syntax error at 'label': write 'label NAME'")
                self.insns.append(("label", text, ""))
            elif op in ("wait_time", "wait_for"):
                self.insns.append(("waittime", "", text))
            elif op in ("wait", "pause", "wait_step", "wait_stop"):
                if op != "wait" or not text:
                    n = int(text) if text.isdigit() else 1
                    self.insns.append(("waitstep", str(n), ""))
                else:
                    self.insns.append(("waittime", "", text))
            elif op in _BARE:
                if text:
                    raise ArgumentError(f"{args.where}: syntax error at '{op}': it takes no argument")
                self.insns.append(("goto", "begin", "") if op == "loop" else (op, "", ""))
            elif op in _TEXT:
                if op == "goto":
                    label, _, cond = text.partition(" ")
                    self.insns.append(("goto", label, cond.strip()))
                else:
                    self.insns.append((op, "", text))
            elif op in ("save", "append"):
                word, _, file = text.partition(" ")
                self.insns.append(("print", "", f"{'>' if op == 'save' else '>>'}"
                                                f"{file.strip() or '-'} {word}"))
            else:
                raise ArgumentError(f"{args.where}: syntax error at '{op}': not a Script "
                                    "instruction (init, set, print, read, write, wait, label, "
                                    "goto, loop, return, end, exit, stop)")
        labels = {arg for op, arg, _ in self.insns if op == "label"}
        for op, arg, _ in self.insns:
            if op == "goto" and arg not in labels and arg not in ("begin", "loop", "end",
                                                                 "exit", "stop"):
                raise ArgumentError(f"{args.where}: no such label '{arg}'")
        if self.type == "DRIVER" and not self.insns:
            self.insns.append(("waitstep", "1", ""))
        self.insns.append(("stop", "", "") if self.type == "DRIVER" else ("end", "", ""))
        self.pos = 0
        self.waited = [0] * len(self.insns)
        self.write_status = 0
        self.run_args = ""
        self._timer = None
        self._running = False
        self._pending_steps = 0

    def port_spec(self):
        return "-/-" if self.type in (None, "PACKET") else "0/0"

    def initialize(self):
        if self.type is None:
            self.type = "PACKET" if self.n_inputs or self.n_outputs else "ACTIVE"
        if self.type == "PACKET" and self.n_inputs == 0:
            raise ArgumentError(f"{self.location}: {self.name} :: {self.class_name()}: a PACKET "
                                "script needs an input: connect something to it")
        for op, var, text in self.insns:
            if op in ("init", "export", "initq", "exportq"):
                value = self._expand(text)
                self.vars[var] = unquote(value) if op.endswith("q") else value
        if self.type == "DRIVER":
            if getattr(self.router, "driver", None) not in (None, self):
                raise ArgumentError(f"{self.location}: router has more than one driver script")
            self.router.driver = self
        if self.type in ("ACTIVE", "DRIVER"):
            self.router.loop.call_soon(self._step, 0)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- expansion -----------------------------------------------------------

    def _lookup(self, name: str):
        if name in self.vars:
            return self.vars[name]
        if name == "?":
            return str(self.write_status)
        if name == "args":
            return self.run_args
        if name == "#":
            return str(len(words(self.run_args)))
        if name.isdigit() and name != "0":
            w = words(self.run_args)
            n = int(name)
            return w[n - 1] if n <= len(w) else ""
        return None

    def _call(self, text: str) -> str:
        w = words(text)
        if not w:
            return ""
        fn = FUNCTIONS.get(w[0])
        if fn is not None:
            try:
                return fn([x for x in w[1:]])
            except (ScriptError, IndexError, ZeroDivisionError, OSError) as e:
                raise ScriptError(f"'{w[0]}': {e or 'bad arguments'}") from None
        return self._read(w[0], text[len(w[0]):].strip())

    def _expand(self, text: str) -> str:
        return expand(text, self._lookup, self._call)

    def _target(self, name: str):
        from vforward.control import GLOBAL_HANDLERS
        ename, dot, hname = name.rpartition(".")
        if not dot:
            if name in self.handlers():
                return self, name
            if name in GLOBAL_HANDLERS:
                return None, name
            raise ScriptError(f"no handler '{name}'")
        element = self.router.element(ename) if self.router else None
        if element is None and self.router is not None and "/" in self.name:
            # a name inside a compound is first looked up beside the script
            element = self.router.element(self.name.rsplit("/", 1)[0] + "/" + ename)
        if element is None:
            raise ScriptError(f"no element named '{ename}'")
        if hname not in element.handlers():
            raise ScriptError(f"no handler '{name}'")
        return element, hname

    def _read(self, name: str, arg: str = "") -> str:
        element, hname = self._target(name)
        if element is None:
            from vforward.control import GLOBAL_HANDLERS
            reader = GLOBAL_HANDLERS[hname][0]
            if reader is None:
                raise ScriptError(f"'{name}' is a write handler")
            return str(reader(self.router))
        h = element.handlers()[hname]
        if h.read is None:
            raise ScriptError(f"'{name}' is a write handler")
        return element.read(hname, arg or None)

    def _write(self, name: str, value: str) -> None:
        element, hname = self._target(name)
        if element is None:
            from vforward.control import GLOBAL_HANDLERS
            writer = GLOBAL_HANDLERS[hname][1]
            if writer is None:
                raise ScriptError(f"'{name}' is a read handler")
            writer(self.router, value)
            return
        element.write(hname, value)

    def _error(self, message: str) -> None:
        print(f"{self.name}: {message}", file=sys.stderr)

    # -- running -------------------------------------------------------------

    def _find_label(self, label: str) -> int:
        for i, (op, arg, _) in enumerate(self.insns):
            if op == "label" and arg == label:
                return i
        if label in ("begin", "loop"):
            return 0
        return len(self.insns) - 1   # end, exit, stop: the closing instruction

    def _step(self, nsteps: int) -> str:
        """Run from the current instruction, consuming up to nsteps 'wait's;
        return the op the script stopped on."""
        if self._timer is not None and nsteps:
            self._timer.cancel()
            self._timer = None
        jumps = 0
        while self.pos < len(self.insns):
            i = self.pos
            op, arg, text = self.insns[i]
            self.pos += 1
            try:
                if op == "waitstep":
                    while nsteps > 0 and self.waited[i] < int(arg):
                        self.waited[i] += 1
                        nsteps -= 1
                    if self.waited[i] < int(arg):
                        self.pos = i
                        return op
                elif op == "waittime":
                    if nsteps > 0:
                        nsteps -= 1
                        continue
                    delay = seconds(self._expand(text))
                    self._timer = self.router.call_later(delay, self._timer_fired)
                    self.pos = i
                    return op
                elif op in ("print", "printq", "printn", "printnq"):
                    self._print(op, text)
                elif op in ("read", "readq"):
                    t = self._expand(text)
                    name, _, arg2 = t.strip().partition(" ")
                    arg2 = unquote(arg2.strip()) if op == "readq" else arg2.strip()
                    value = self._read(name, arg2)
                    sys.stdout.flush()
                    sys.stderr.write(f"{self._full_name(name)}:\n{value}\n")
                    sys.stderr.flush()
                elif op in ("write", "writeq"):
                    t = self._expand(text)
                    name, _, value = t.strip().partition(" ")
                    value = value.strip()
                    if op == "writeq":
                        value = unquote(value)
                    try:
                        self._write(name, value)
                        self.write_status = 0
                    except (HandlerError, ArgumentError, ValueError, ScriptError) as e:
                        self.write_status = -1
                        self._error(f"While calling '{t.strip()}': {e}")
                    except KeyError:
                        self.write_status = -1
                        self._error(f"While calling '{t.strip()}': no write handler "
                                    f"'{self._full_name(name)}'")
                elif op in _WITH_VAR:
                    value = self._expand(text)
                    if op.endswith("q"):
                        value = unquote(value)
                    if op.startswith(("set", "return")):
                        self.vars[arg] = value
                    if op.startswith("return"):
                        return op
                elif op == "goto":
                    cond = self._expand(text).strip() if text else ""
                    if not cond or _truth(cond):
                        target = self._find_label(arg)
                        for j in range(target, i):
                            if self.insns[j][0] == "waitstep":
                                self.waited[j] = 0
                        self.pos = target
                        jumps += 1
                        if jumps > _MAX_JUMPS:
                            print(f"{self.name} :: {self.class_name()}: too many jumps, giving up",
                                  file=sys.stderr)
                            self.pos = len(self.insns)
                            return "end"
                elif op in ("error", "errorq"):
                    msg = self._expand(text)
                    if msg:
                        self._error(unquote(msg) if op == "errorq" else msg)
                    self.pos = i
                    return op
                elif op in ("end", "exit"):
                    self.pos = i
                    return op
                elif op == "stop":
                    self.pos = i
                    # at once, as Click's driver stops: a graph whose packets
                    # circle for ever would never drain
                    self.router.stop(driver_done=self.type == "DRIVER")
                    return op
            except (ScriptError, HandlerError, ArgumentError, KeyError, ValueError) as e:
                self._error(f"While executing '{self.name}': {e}")
        return "end"

    def _timer_fired(self):
        self._timer = None
        self._step(1)

    def _full_name(self, name: str) -> str:
        ename, dot, hname = name.rpartition(".")
        return name if dot else f"{self.name}.{name}"

    def _print(self, op: str, text: str) -> None:
        out = sys.stdout
        close = False
        if text.startswith(">"):
            append = text.startswith(">>")
            text = text[2 if append else 1:].lstrip()
            fname, _, text = text.partition(" ")
            if fname and fname != "-":
                out = open(fname, "a" if append else "w")
                close = True
            text = text.strip()
        if text and (text[0].isalpha() or text[0] in "@_"):
            t = self._expand(text)
            name, _, arg = t.partition(" ")
            result = self._read(name, unquote(arg.strip()) if op.endswith("q") else arg.strip())
        else:
            result = unquote(self._expand(text))
        if op in ("print", "printq") and not result.endswith("\n"):
            result += "\n"
        sys.stderr.flush()
        out.write(result)
        out.flush()
        if close:
            out.close()

    # -- driver hook: the router asks its driver before it stops -------------

    def stop_requested(self) -> bool:
        """A request to stop the router: one step of a DRIVER script.  True if
        the script took it (the router keeps running until the script ends)."""
        if self.pos < len(self.insns) and self.insns[self.pos][0] == "stop":
            return False   # the script is stopping the router itself
        self._pending_steps += 1
        if self._pending_steps == 1:
            self.router.loop.call_soon(self._take_steps)
        return True

    def _take_steps(self):
        n, self._pending_steps = self._pending_steps, 0
        self._step(n)

    # -- packets ---------------------------------------------------------------

    def _port_for_packet(self, port: int) -> int:
        self.vars["input"] = str(port)
        self.pos = 0
        self.waited = [0] * len(self.insns)
        last = self._step(0)
        if last.startswith("return"):
            try:
                return int(self.vars.get("_", "").strip())
            except ValueError:
                return -1
        return 0 if last == "end" else -1

    def push(self, port, batch):
        import numpy as np
        n_out = max(self.n_outputs, 1)
        ports = np.array([self._port_for_packet(port) for _ in range(len(batch.idx))],
                         dtype=np.int64)
        drop = (ports < 0) | (ports >= self.n_outputs)
        if drop.any():
            gone, batch = batch.split(drop)
            gone.kill()
            ports = ports[~drop]
        if not len(batch.idx):
            return
        for p, part in enumerate(batch.partition(ports, n_out)):
            self.emit(p, part)

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is None:
            return None
        import numpy as np
        ports = np.array([self._port_for_packet(0) for _ in range(len(batch.idx))],
                         dtype=np.int64)
        keep = ports == 0
        rest, batch = batch.split(~keep)
        if len(rest.idx):
            rest_ports = ports[~keep]
            bad = (rest_ports < 0) | (rest_ports >= self.n_outputs)
            gone, rest = rest.split(bad)
            gone.kill()
            for p, part in enumerate(rest.partition(rest_ports[~bad], max(self.n_outputs, 1))):
                if p:
                    self.emit(p, part)
        return batch if len(batch.idx) else None

    # -- handlers --------------------------------------------------------------

    @write_handler("step")
    def write_step(self, value):
        value = value.strip()
        n = 1 if not value else int(value) if value.isdigit() else None
        if n is None:
            raise HandlerError("syntax error: step takes a number of steps")
        self._step(n)

    @write_handler("goto")
    def write_goto(self, value):
        label = value.strip()
        target = self._find_label(label)
        if target >= len(self.insns) - 1 and label not in ("end", "exit", "stop"):
            raise HandlerError("jump to nonexistent label")
        for j in range(target, len(self.insns)):
            if self.insns[j][0] == "waitstep":
                self.waited[j] = 0
        self.pos = target
        self._step(0)

    def _run(self, args: str) -> str:
        self.run_args = args or ""
        self.pos = 0
        self.waited = [0] * len(self.insns)
        last = self._step(0)
        self.run_args = ""
        return self.vars.get("_", "") if last.startswith("return") else ""

    @read_handler("get")
    def read_get(self, arg=None):
        return self.vars.get((arg or "").strip(), "")

    @write_handler("set")
    def write_set(self, value):
        var, _, text = value.strip().partition(" ")
        if not var:
            raise HandlerError("set takes 'VARIABLE VALUE'")
        self.vars[var] = text.strip()

    @read_handler("shift")
    def read_shift(self, arg=None):
        var = (arg or "").strip()
        w = words(self.vars.get(var, ""))
        self.vars[var] = " ".join(w[1:])
        return w[0] if w else ""

    @read_handler("run")
    def read_run(self, arg=None):
        return self._run(arg or "")

    @write_handler("run")
    def write_run(self, value):
        self._run(value)

    def handlers(self):
        """The class's handlers, Script's functions (add, sub ... as read handlers
        with an argument) and one read/write handler per exported variable."""
        from vforward.element import Handler
        table = dict(super().handlers())
        exported = getattr(self, "exported", [])
        for name, fn in FUNCTIONS.items():
            if name not in table:
                h = table[name] = Handler(name)
                h.read, h.read_takes_arg = _function_reader(fn, name in _WHOLE_ARGUMENT), True
        for name in exported:
            h = table[name] = Handler(name)
            h.read = lambda s, n=name: s.vars.get(n, "")
            h.write = lambda s, value, n=name: s.vars.__setitem__(n, value)
        return table


# functions of a string, which a split at white space would change
_WHOLE_ARGUMENT = {"length", "unquote"}


def _function_reader(fn, whole: bool = False):
    def read(script, arg=None):
        try:
            return fn([arg or ""] if whole else words(arg or ""))
        except (ScriptError, IndexError, ZeroDivisionError, ValueError) as e:
            raise HandlerError(str(e) or "bad arguments") from None
    return read


def _truth(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "1", "t", "y", "on"):
        return True
    if t in ("false", "no", "0", "f", "n", "off"):
        return False
    raise ScriptError(f"bad condition '{text}'")


class DriverManager(Script):
    """DriverManager(INSTRUCTIONS...) -- a Script that manages the driver

    Ports: none.

    A Script of TYPE DRIVER: the router runs until the script ends.  Each
    request to stop the router (InfiniteSource's STOP, a Script's `stop`,
    the `stop` handler) advances it by one step: past a `wait` or `pause`,
    or cutting a timed `wait` short.  With no instructions it waits for one
    stop request, then stops; `DriverManager(wait 1s, stop)` runs the
    router for a second; `DriverManager(pause, read c.count, stop)` prints
    a counter once a source says it is done.

    See Script for the instructions and handlers.
    """
    DEFAULT_TYPE = "DRIVER"
