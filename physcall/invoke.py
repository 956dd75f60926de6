"""The one way through the house: lay out -> verify (dry run) -> run on a backend -> Results.

>>> import physcall
>>> physcall.invoke(physcall.interrupt(0x12)).regs.ax          # the emulator and the stub BIOS
639
"""

import logging

from .call import Call
from .errors import BackendError, ConfirmationRequired, VerificationError
from .layout import lay_out
from .result import Result

log = logging.getLogger("physcall")

BACKENDS = ("emulator", "kexec", "vm")
ALIASES = {"emu": "emulator", "unicorn": "emulator", "dry": "emulator", "real": "kexec",
           "qemu": "vm", "guest": "vm"}
EMULATOR_OPTIONS = ("firmware", "budget", "trace", "policy")
BACKEND_OPTIONS = {"emulator": (), "kexec": ("confirm", "force", "timeout", "checks"),
                   "vm": ("confirm", "force", "timeout", "session", "memory", "accel")}


def normalize_backend(name):
    """A backend name from a name or alias; the error lists the valid choices."""
    name = ALIASES.get(name, name)
    if name not in BACKENDS:
        raise BackendError("unknown backend %r: choose one of %s" % (name, ", ".join(BACKENDS)))
    return name


def invoke(calls, backend="emulator", verify=True, **options):
    """Run a call or a list of calls (one batch, one jump) and return Result(s).

    ``backend``: "emulator" (offline, default), "kexec" (this machine, for real: needs
    ``confirm=True``), "vm" (the QEMU guest runs the kexec backend).  ``verify=False`` skips the dry
    run that otherwise precedes every real jump.  Emulator options: ``firmware``, ``budget``,
    ``trace``, ``policy``; kexec options: ``confirm``, ``force``; vm options: ``session``.

    >>> import physcall
    >>> [r.regs.ax for r in physcall.invoke([physcall.interrupt(0x12), physcall.interrupt(0x1A, ah=0)])][0]
    639
    """
    single = isinstance(calls, Call)
    backend = normalize_backend(backend)
    if backend == "kexec" and options.get("confirm") is not True:
        raise ConfirmationRequired(
            "a real jump on this machine needs explicit confirmation: pass confirm=True (CLI: --yes) "
            "after `physcall check`; to try it safely use backend='vm' (physcall's QEMU guest)")
    unknown = sorted(set(options) - set(EMULATOR_OPTIONS) - set(BACKEND_OPTIONS[backend]))
    if unknown:
        raise TypeError("invoke(backend=%r) got unknown option%s %s; it takes %s"
                        % (backend, "s" if len(unknown) > 1 else "", ", ".join(unknown),
                           ", ".join(EMULATOR_OPTIONS + BACKEND_OPTIONS[backend])))
    layout = lay_out(calls)
    emu = {k: options.pop(k) for k in EMULATOR_OPTIONS if k in options}
    reports = [None] * len(layout.calls)
    if backend == "emulator" or verify:
        reports = _dry_run(layout, emu)
    if backend == "emulator":
        results = [_result(p, o, "emulator", o.report) for p, o in zip(layout.calls, reports)]
    else:
        outcomes = _real(backend, layout, options)
        for placed, outcome in zip(layout.calls, outcomes):
            if getattr(outcome, "returned", True) is False or getattr(outcome, "status", "returned") \
                    not in ("returned", None):
                raise BackendError("call %d (%s) did not return on the %s backend (status %s); its "
                                   "registers would be meaningless" % (placed.index, placed.call.describe(),
                                                                       backend, outcome.status))
        dry = [getattr(o, "report", None) for o in reports]
        results = [_result(p, o, backend, r) for p, o, r in zip(layout.calls, outcomes, dry)]
    return results[0] if single else results


def _dry_run(layout, emu):
    """Run the batch in the emulator; refuse the whole batch if any call was refused.

    Without ``firmware`` that is the stub BIOS, whose default profile mirrors the guest's SeaBIOS."""
    from .emulator import machine
    outcomes = machine.run(layout, **emu)
    for placed, outcome in zip(layout.calls, outcomes):
        report = outcome.report
        if report.verdict != "ok":
            raise VerificationError("dry run refused call %d (%s): %s"
                                    % (placed.index, placed.call.describe(), "; ".join(report.reasons)),
                                    report)
    return outcomes


def _real(backend, layout, options):
    if backend == "kexec":
        from . import kexec
        return kexec.run_kexec(layout, **options)
    from . import vmbackend
    return vmbackend.run_vm(layout, **options)


def _result(placed, outcome, backend, report):
    timing = dict(getattr(outcome, "timing", None) or {})
    return Result(call=placed.call, regs=outcome.regs, buffers=dict(outcome.buffers),
                  backend=backend, report=report, timing=timing)
