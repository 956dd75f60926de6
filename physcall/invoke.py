"""The one way through the house: lay out -> verify (dry run) -> run on a backend -> Outcomes.

>>> import physcall
>>> physcall.invoke(physcall.interrupt(0x12)).regs.ax          # the emulator and the stub BIOS
639
"""

import dataclasses
import logging

from .call import Call
from .errors import BackendError, ConfirmationRequired, UnknownBackend, UsageError, VerificationError
from .layout import lay_out
from .outcome import RETURNED
from .vmbackend import Session, run_vm

log = logging.getLogger("physcall")

BACKENDS = ("emulator", "kexec", "vm")
ALIASES = {"emu": "emulator", "unicorn": "emulator", "dry": "emulator", "real": "kexec",
           "qemu": "vm", "guest": "vm"}
EMULATOR_OPTIONS = ("firmware", "budget", "trace", "policy")
BACKEND_OPTIONS = {"emulator": ("allow",), "kexec": ("confirm", "force", "timeout", "checks", "allow"),
                   "vm": ("confirm", "force", "timeout", "session", "memory", "accel", "allow")}


def normalize_backend(name):
    """A backend name from a name or alias; the error lists the valid choices.

    >>> normalize_backend("unicorn")
    'emulator'
    """
    canonical = ALIASES.get(name, name) if isinstance(name, str) else name
    if canonical not in BACKENDS:
        raise UnknownBackend("unknown backend %r: choose one of %s (aliases: %s)"
                             % (name, ", ".join(BACKENDS),
                                ", ".join("%s=%s" % kv for kv in sorted(ALIASES.items()))))
    return canonical


def invoke(calls, backend="emulator", verify=True, **options):
    """Run a call or a list of calls (one batch, one jump) and return its Outcome(s).

    ``backend``: "emulator" (offline, default), "kexec" (this machine, for real: needs
    ``confirm=True``), "vm" (the QEMU guest runs the kexec backend).  ``verify=False`` skips the dry
    run that otherwise precedes every real jump.  Emulator options: ``firmware``, ``budget``,
    ``trace``, ``policy``; kexec options: ``confirm``, ``force``, ``allow`` (hazard kinds the caller
    accepts: a kexec jump whose dry run saw any other refuses); vm options: ``session``.

    >>> import physcall
    >>> [r.regs.ax for r in physcall.invoke([physcall.interrupt(0x12), physcall.interrupt(0x1A, ah=0)])][0]
    639
    """
    single = isinstance(calls, Call)
    backend = normalize_backend(backend)
    if backend == "kexec" and options.get("confirm") is not True:
        raise ConfirmationRequired()
    unknown = sorted(set(options) - set(EMULATOR_OPTIONS) - set(BACKEND_OPTIONS[backend]))
    if unknown:
        raise UsageError("invoke(backend=%r) got unknown option%s %s; it takes %s"
                         % (backend, "s" if len(unknown) > 1 else "", ", ".join(unknown),
                            ", ".join(EMULATOR_OPTIONS + BACKEND_OPTIONS[backend])))
    session = options.get("session")
    if session is not None and not isinstance(session, Session):
        raise UsageError("session=%r: give a physcall.vmbackend.Session (with Session() as vm: ...)"
                         % (session,))
    if backend == "vm" and session is None and verify:
        # The dry run needs the guest's own firmware, so the guest boots first
        guest = {k: options.pop(k) for k in ("memory", "accel") if k in options}
        with Session(**guest) as session:
            return invoke(calls, backend, verify, session=session, **options)
    layout = lay_out(calls)
    emu = {k: options.pop(k) for k in EMULATOR_OPTIONS if k in options}
    if verify and emu.get("firmware") is None:
        emu["firmware"] = _default_firmware(backend, options)
    from .emulator import hazards
    allow = hazards.check_allow(options.pop("allow", ()))
    dry = _dry_run(layout, emu) if backend == "emulator" or verify else None
    if backend == "kexec" and dry is not None:
        # On this machine a hazard may cost the running system; in the vm guest it costs a guest
        hazards.refuse_unallowed(layout, [o.report for o in dry], allow)
    if backend == "emulator":
        outcomes = dry
    else:
        outcomes = _real(backend, layout, options)
        for placed, outcome in zip(layout.calls, outcomes):
            if outcome.status != RETURNED:
                raise BackendError("call %d (%s) did not return on the %s backend (status %s); its "
                                   "registers would be meaningless" % (placed.index, placed.call.describe(),
                                                                       backend, outcome.status))
        if dry is not None:
            outcomes = [dataclasses.replace(o, report=d.report) for o, d in zip(outcomes, dry)]
    return outcomes[0] if single else outcomes


def _default_firmware(backend, options):
    """What the dry run runs unless told: the firmware the real run will meet.  The emulator keeps the
    stub BIOS; the vm backend uses the guest's own snapshot (taken once per guest boot, kept by the
    Session); the kexec backend a snapshot of this machine taken now (/dev/mem)."""
    if backend == "vm":
        return options["session"].firmware()
    if backend == "kexec":
        return "devmem"
    return "stub"


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
    return run_vm(layout, **options)
