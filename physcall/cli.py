"""The ``physcall`` command: tables for people, ``--json`` for programs.

    physcall int 0x12
    physcall int 0x15 eax=0xe820 ebx=0 ecx=24 edx=0x534d4150 --buffer es_di=24 --json
    physcall run routine.s --mode flat32 edi=0x100000
    physcall asm routine.s
    physcall int 0x12 --backend vm
"""

import argparse
import json
import logging
import sys

from . import call as calls_mod
from .errors import CallError, InputError, PhyscallError
from .invoke import ALIASES, BACKENDS, invoke, normalize_backend
from .regs import CF, DF, FIELDS, IF, OF, PF, SF, ZF, AF


def main(argv=None):
    """Entry point of the console script; returns the exit status: 0, 1 (PhyscallError: one line on
    stderr naming the cause and the fix), 2 (usage), 130 (Ctrl-C)."""
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="physcall: %(message)s")
        if not getattr(args, "func", None):
            parser.error("give a command")
        try:
            return args.func(args) or 0
        except PhyscallError as exc:
            return _fail(args, exc)
    except KeyboardInterrupt:         # whatever ran was unwound (a guest is stopped, an image unloaded)
        print("physcall: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, "physcall: usage: %s (see `%s --help`)\n" % (message, self.prog))


def _fail(args, exc):
    """One line on stderr says why; the dry run's report, if any, goes to stdout for people."""
    report = getattr(exc, "report", None)
    if getattr(args, "json", False):
        print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc),
                                    "report": report.to_dict() if report is not None else None}}))
    else:
        if report is not None:
            print(report)
        print("physcall: error: %s" % " ".join(str(exc).split()), file=sys.stderr)
    return 1


def _parser():
    parser = _Parser(prog="physcall", description="Run BIOS services and real-mode or "
                                     "flat 32-bit routines: offline in an emulator, or for real.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what physcall does")
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("int", help="call a BIOS interrupt: physcall int 0x15 eax=0xe820 ...")
    p.add_argument("vector", type=_vector, help="interrupt vector: 0x12 or 12h")
    _common(p)
    p.set_defaults(func=_cmd_int)
    p = sub.add_parser("run", help="run an assembly routine (.s/.asm) or a Python file defining CALLS")
    p.add_argument("file")
    p.add_argument("--mode", default="real16", choices=("real16", "flat32"))
    p.add_argument("--entry", help="label to start the routine at")
    _common(p)
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("asm", help="assemble a file and print a listing")
    p.add_argument("file")
    p.add_argument("--mode", default="real16", choices=("real16", "flat32"))
    p.add_argument("--origin", type=_int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_asm)
    _plugins(sub)
    return parser


def _common(p):
    p.add_argument("regs", nargs="*", metavar="REG=VALUE", help="e.g. eax=0xe820 es=0 ah=0x4f")
    p.add_argument("--buffer", action="append", default=[], metavar="PAIR=SIZE",
                   help="a buffer for a register pair (es_di=24) or, in flat32, a register (edi=4096)")
    add_backend_options(p)
    p.add_argument("--force", action="store_true", help="replace a kexec image someone else loaded")
    p.add_argument("--no-verify", action="store_true", help="skip the dry run before a real jump")
    p.add_argument("--budget", type=_int, help="dry-run instruction budget")
    p.add_argument("--trace", action="store_true",
                   help="count instructions exactly and show the last ones run (slow: ~0.5 us each)")
    p.add_argument("--json", action="store_true", help="print JSON only")
    from .emulator.hazards import KINDS
    p.add_argument("--allow", action="append", default=[], metavar="KIND", choices=list(KINDS),
                   help="accept a hazard kind on a real jump (%s)" % ", ".join(KINDS))
    add_firmware_option(p)


def add_backend_options(p):
    """``--backend`` (a name or alias, normalised by invoke.normalize_backend) and ``--yes``."""
    p.add_argument("--backend", default="emulator", help="one of %s (default emulator; aliases: %s)"
                   % (", ".join(BACKENDS), ", ".join(sorted(ALIASES))))
    p.add_argument("--yes", action="store_true", help="confirm a real jump on this machine (kexec backend)")


def add_firmware_option(p):
    """``--firmware stub|devmem|FILE``: what the dry run runs (shared by int, run, build, explore)."""
    p.add_argument("--firmware", metavar="stub|devmem|FILE",
                   help="the firmware the dry run runs: the stub BIOS, this machine's memory (root), or "
                        "a snapshot file from `physcall snapshot` / `physcall vm snapshot`")


def _plugins(sub):
    """The commands about a machine and its firmware (physcall/cli_machine.py)."""
    from . import cli_machine
    cli_machine.register(sub)


def _int(text):
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number (use 18, 0x12 or 0o22)" % text)


def _vector(text):
    """A vector in hex as BIOS documentation writes it; a bare decimal >= 10 is ambiguous."""
    low = text.lower()
    if low.endswith("h") and low[:-1]:
        return _int("0x" + low[:-1])
    if low.isdigit() and int(low) >= 10:
        raise argparse.ArgumentTypeError(
            "vector %r is ambiguous: write 0x%s (or %sh) for int %sh, or %#x for decimal %s"
            % (text, low, low, low, int(low), low))
    return _int(text)


def parse_regs(items, buffers=()):
    """``["eax=0xe820", ...]`` and ``["es_di=24"]`` -> keyword arguments for a call."""
    kwargs = {}
    for item in items:
        name, _, value = item.partition("=")
        if not _ or not name:
            raise CallError("%r: registers are given as NAME=VALUE, e.g. eax=0xe820" % item)
        _once(kwargs, name.lower(), _value(name, value))
    for item in buffers:
        name, _, size = item.partition("=")
        _once(kwargs, name.lower(), calls_mod.Buffer(size=_value(name, size)))
    return kwargs


def _once(kwargs, name, value):
    if name in kwargs:
        raise CallError("%s is given twice on the command line: give it once" % name)
    kwargs[name] = value


def _value(name, text):
    try:
        return int(text, 0)
    except ValueError:
        raise CallError("%s=%r: the value must be a number such as 24 or 0x18" % (name, text)) from None


def _options(args):
    backend = normalize_backend(args.backend)
    opts = {"backend": backend, "verify": not args.no_verify}
    if backend != "emulator":
        opts.update(confirm=args.yes, force=args.force)
    if args.budget is not None:
        opts["budget"] = args.budget
    if args.trace:
        opts["trace"] = True
    if args.firmware:
        opts["firmware"] = args.firmware
    if args.allow:
        opts["allow"] = args.allow
    return opts


def _cmd_int(args):
    call = calls_mod.interrupt(args.vector, **parse_regs(args.regs, args.buffer))
    return _emit(args, [invoke(call, **_options(args))])


def load_batch(path, mode="real16", entry=None, **regs):
    """The calls in ``path``: a Python file's CALLS (a call or a list), or an assembly routine."""
    text = read_source(path)
    if not path.endswith(".py"):
        return calls_mod.Routine(text, mode=mode, entry=entry, **regs)
    scope = {"__name__": "physcall_calls", "__file__": path}
    try:
        exec(compile(text, path, "exec"), scope)
    except PhyscallError:
        raise
    except Exception as exc:          # the user's file is input: its failure is one line, not ours
        line = getattr(exc, "lineno", None) or _failing_line(exc, path)
        raise InputError("%s%s: %s: %s: fix the file" % (path, ":%d" % line if line else "",
                                                         type(exc).__name__, exc)) from None
    if scope.get("CALLS") is None:
        raise InputError("%s defines no CALLS: set CALLS = physcall.interrupt(...) or a list" % path)
    return scope["CALLS"]


def _failing_line(exc, path):
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def read_source(path):
    """A source file's text (UTF-8, checked by the assembler's rules); InputError names the file."""
    from .asm import decode_source
    try:
        with open(path, "rb") as f:
            return decode_source(f.read(), path)
    except OSError as exc:
        raise InputError("cannot read %s: %s" % (path, exc.strerror or exc)) from None


def _cmd_run(args):
    batch = load_batch(args.file, args.mode, args.entry, **parse_regs(args.regs, args.buffer))
    out = invoke(batch, **_options(args))
    return _emit(args, out if isinstance(out, list) else [out])


def _cmd_asm(args):
    from .asm import asm
    source = read_source(args.file)
    result = asm(source, args.mode, args.origin)
    if args.json:
        print(json.dumps({"mode": result.mode, "origin": result.origin, "code": result.code.hex(),
                          "symbols": result.symbols, "lines": [list(l) for l in result.lines]}))
        return 0
    print(listing(result, source))
    return 0


def listing(result, source):
    """Each source line that emits bytes, then its bytes disassembled again with Capstone (data
    lines as bytes): ``lines`` of the Assembly cover the code exactly, so nothing is left out."""
    from .disasm import disassembler
    md = disassembler(result.mode)
    text = source.split("\n")
    out = []
    for number, start, end in result.lines:
        stmt = text[number - 1].strip()
        out.append("%5d  %s" % (number, stmt))
        data = result.code[start - result.origin:end - result.origin]
        insns = [] if _is_data(stmt) else list(md.disasm(data, start))
        done = sum(i.size for i in insns)
        out.extend("         %05x  %-20s %s %s" % (i.address, i.bytes.hex(), i.mnemonic, i.op_str)
                   for i in insns)
        for at in range(done, len(data), 8):
            out.append("         %05x  %-20s (data)" % (start + at, data[at:at + 8].hex()))
    return "\n".join(out)


def _is_data(stmt):
    from .asm import strip_comment
    body = strip_comment(stmt)
    body = body.split(":", 1)[1] if ":" in body and not body.lstrip().startswith(".") else body
    return body.strip().startswith(".")


def _emit(args, results):
    if args.json:
        print(json.dumps({"backend": results[0].backend,
                          "results": [r.to_dict() for r in results]}))
        return 0
    for result in results:
        print(format_result(result))
    return 0


def format_result(result):
    """A table for people: registers, flags, buffers (hex dump) and the dry-run verdict."""
    regs = result.regs
    out = ["%s  [%s]%s" % (result.call.describe(), result.backend,
                           "  (CF=1: a failure, for services that report through CF)" if regs.cf else "")]
    row = ["%-6s %08x" % (name, getattr(regs, name)) for name in FIELDS]
    out.extend("  " + "   ".join(row[i:i + 4]) for i in range(0, len(row), 4))
    out.append("  flags  " + (" ".join(n for n, m in _FLAG_NAMES if regs.eflags & m) or "-"))
    for name, data in result.buffers.items():
        out.append("  buffer %s (%d bytes)" % (name, len(data)))
        out.extend("    %04x  %-48s %s" % (i, data[i:i + 16].hex(" "), _printable(data[i:i + 16]))
                   for i in range(0, min(len(data), 256), 16))
    if result.timing:
        out.append("  timing " + format_timing(result.timing))
    if result.report is not None:
        out.append("  dry run: " + str(result.report).replace("\n", "\n    "))
        trace = getattr(result.report, "trace", None)
        if trace:
            out.append("  last instructions run (trace):")
            out.extend("    " + line for line in trace)
    return "\n".join(out)


def format_timing(timing):
    """TSC cycles of the round trip, the image and the call; milliseconds where the clock is known."""
    mhz = timing.get("tsc_mhz")
    parts = []
    for key, label in (("round_trip", "round trip"), ("image", "in the image"), ("call", "the call")):
        if isinstance(timing.get(key), int):
            cycles = timing[key]
            ms = " (%.3f ms)" % (cycles / mhz / 1000) if mhz else ""
            parts.append("%s %d cycles%s" % (label, cycles, ms))
    return ", ".join(parts) or ", ".join("%s=%s" % kv for kv in timing.items())


_FLAG_NAMES = (("CF", CF), ("PF", PF), ("AF", AF), ("ZF", ZF), ("SF", SF), ("IF", IF), ("DF", DF),
               ("OF", OF))


def _printable(chunk):
    return "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)


if __name__ == "__main__":
    sys.exit(main())
