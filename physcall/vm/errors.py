"""Errors of the QEMU test machine (``physcall.vm``); all are ``physcall.errors.PhyscallError``."""

from physcall.errors import PhyscallError


class GuestError(PhyscallError, RuntimeError):
    """The guest could not be built, booted or talked to; the message names the step and the fix."""


class SetupError(GuestError):
    """``vm setup`` failed (missing host package, download, kernel build, dropped config option)."""


class GuestTimeout(GuestError, TimeoutError):
    """A guest command or the boot did not finish in time; QEMU was killed if the guest hung."""
