"""The commands about a machine and its firmware: ``check`` (can it jump?), ``build`` (an image for
it), ``snapshot`` (its low memory and tables), ``explore`` (a survey of its BIOS); ``vm`` comes from
physcall/vm/cli.py.  physcall/cli.py holds the parser and the commands that run calls (``int``,
``run``, ``asm``).  Each command imports its subsystem when it runs, so ``physcall --help`` stays fast.
"""

import json
import sys

from .cli import add_backend_options, add_firmware_option
from .errors import InputError
from .invoke import normalize_backend


def register(sub):
    _register_vm(sub)
    _register_check(sub)
    _register_build(sub)
    _register_snapshot(sub)
    _register_explore(sub)


def _register_vm(sub):
    from .vm import cli as vm_cli
    vm_cli.add_subparsers(sub)


def _register_check(sub):
    p = sub.add_parser("check", help="can this machine make a real jump? (pre-flight table)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_check)


def _register_build(sub):
    p = sub.add_parser("build", help="write a kexec-jump image for a batch: physcall build CALLS.py -o image.elf")
    p.add_argument("file", help="a Python file defining CALLS, or an assembly routine")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--mode", default="real16", choices=("real16", "flat32"))
    p.add_argument("--json", action="store_true")
    add_firmware_option(p)
    p.set_defaults(func=_cmd_build)


def _register_snapshot(sub):
    p = sub.add_parser("snapshot", help="write this machine's firmware (first MiB, SMBIOS/ACPI tables, "
                                        "E820, iomem, PCI) as an ELF core: physcall snapshot -o s.elf")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_snapshot)


def _register_explore(sub):
    p = sub.add_parser("explore", help="survey the firmware in one batch (one real jump): E820, VBE modes, "
                                       "EDID, SMBIOS, EDD, PCI BIOS, APM, tables")
    add_backend_options(p)
    add_firmware_option(p)
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.set_defaults(func=_cmd_explore)


def _cmd_explore(args):
    from .explore import explore
    from .explore_table import render
    backend = normalize_backend(args.backend)
    options = {"firmware": args.firmware} if args.firmware else {}
    if backend != "emulator":
        options["confirm"] = args.yes
    survey = explore(backend=backend, **options)
    print(json.dumps(survey) if args.json else render(survey))
    return 0


def _cmd_check(args):
    from . import preflight
    table = preflight.checks()
    ready = all(c.ok is not False for c in table)
    if args.json:
        print(json.dumps({"ok": ready, "checks": preflight.as_json(table)}))
        return 0 if ready else 1
    for c in table:
        print("%-4s %-24s %s" % ({True: "ok", False: "FAIL", None: "?"}[c.ok], c.name, c.detail))
        if c.ok is False and c.fix:
            print("     fix: %s" % c.fix)
    print("\nthis machine %s" % ("can make a real jump (backend='kexec', confirm=True / --yes)" if ready
                                 else "cannot make a real jump: use --backend vm (physcall's QEMU guest)"))
    return 0 if ready else 1


def _cmd_build(args):
    from . import image
    from .cli import load_batch
    from .layout import lay_out
    from .invoke import _dry_run
    batch = load_batch(args.file, args.mode)
    layout = lay_out(batch)
    # An image is built to be run: it is checked first, on the firmware it will meet if one is named
    dry = _dry_run(layout, {"firmware": args.firmware} if args.firmware else {})
    hazards = [h for o in dry for h in o.report.hazards]
    try:
        img = image.write_elf(layout, args.output)
    except OSError as exc:
        raise InputError("cannot write %s: %s" % (args.output, exc.strerror or exc)) from None
    if args.json:
        print(json.dumps({"path": args.output, "entry": img.entry, "calls": len(layout.calls),
                          "hazards": hazards,
                          "segments": [{"mem": s.mem, "memsz": s.memsz, "filesz": len(s.data), "what": s.what}
                                       for s in img.segments]}))
    else:
        print("wrote %s" % args.output, file=sys.stderr)
        if hazards:                   # whoever loads the image with kexec-tools should know them
            print("hazards: %s" % ", ".join("%s at %s" % (h["kind"], h["at"]) for h in hazards),
                  file=sys.stderr)
    return 0


def _cmd_snapshot(args):
    from . import snapshot
    ranges, meta = snapshot.take()
    snapshot.write_core(args.output, ranges, meta)
    summary = {"path": args.output, "ranges": [[phys, len(data)] for phys, data in ranges],
               "tables": meta["tables"], "tables_missing": meta["tables_missing"]}
    if args.json:
        print(json.dumps(summary))
    else:
        print(snapshot.describe(args.output, ranges, meta))
    return 0
