"""The physcall exception tree: one root, a few leaves that also subclass the matching builtin.

Every message says what happened, where (line, address ``0x%05x``, vector ``15h``/leaf ``e820h``) and
what to do about it.
"""


class PhyscallError(Exception):
    """Something physcall was asked to do could not be done; the message says why and what to do."""


class AssemblyError(PhyscallError, ValueError):
    """Keystone rejected the source; ``line`` and ``text`` name the offending source line."""

    def __init__(self, message, line=None, text=None):
        super().__init__(message)
        self.line = line
        self.text = text


class CallError(PhyscallError, ValueError):
    """A call's vector, registers, buffers, mode or source are not valid; the message names the value."""


class UsageError(PhyscallError, TypeError):
    """physcall was called in a way it does not take: an unknown option, a value of the wrong type."""


class OptionError(PhyscallError, ValueError):
    """An option has a value it cannot take (a budget of 0, an unknown hazard kind); the message says
    which values it takes."""


class InputError(PhyscallError, OSError):
    """A file the caller named cannot be read or written, or holds no calls; the message names it."""


class ModelError(PhyscallError, ValueError):
    """A machine model for the dry run (firmware, profile, port policy) holds a value it cannot use."""


class LayoutError(PhyscallError, ValueError):
    """The batch does not fit the low-memory window, or a buffer/register pairing is impossible."""


class VerificationError(PhyscallError):
    """The dry run refused the routine; ``report`` holds the full emulator report with the reasons."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class HazardRefused(VerificationError):
    """A real jump on this machine was refused: its dry run saw hazards (``report.hazards``) that the
    caller did not allow by name and the trampoline does not handle (physcall.emulator.hazards)."""


class BackendError(PhyscallError):
    """A backend could not run the batch (unknown backend, missing machine support, pre-flight failure)."""


class PreflightError(BackendError):
    """A pre-flight check of the real jump failed; ``checks`` lists every check with its fix."""

    def __init__(self, message, checks=None):
        super().__init__(message)
        self.checks = checks or []


class UnknownBackend(BackendError, ValueError):
    """A backend name that is neither a backend nor an alias; the message lists the choices."""


class ConfirmationRequired(BackendError, PermissionError):
    """A real jump was requested without explicit confirmation (``confirm=True`` or ``--yes``).

    ``ConfirmationRequired()`` carries the one text every refusal uses."""

    TEXT = ("a real jump on this machine needs explicit confirmation: pass confirm=True (CLI: --yes) "
            "after `physcall check`; it resets the machine if kernel or firmware disagree with the "
            "trampoline. To try it safely use backend='vm' (physcall's QEMU guest)")

    def __init__(self, message=None):
        super().__init__(message or self.TEXT)


class WireError(BackendError):
    """What crossed the host-guest boundary of the vm backend is not what was asked for (a reply that
    is not JSON, too large, or whose outcomes, buffers or registers do not match the request); the guest
    is not trusted, so its answer is refused as a whole."""


class CacheError(PhyscallError, PermissionError):
    """The cache directory (or a file in it, or the PHYSCALL_TRAMPOLINE override) could be written by
    another user, so physcall will not load anything from it; the message names the path and the fix."""
