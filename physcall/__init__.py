"""physcall: run BIOS services and real-mode or flat 32-bit routines from 64-bit Linux.

Offline in an emulator with a model of the BIOS, or for real through a kexec jump (on this machine,
or in the QEMU guest physcall boots).

>>> import physcall
>>> physcall.invoke(physcall.interrupt(0x12)).regs.ax            # the emulator and its stub BIOS
639
"""

from .errors import (AssemblyError, BackendError, CallError, ConfirmationRequired, InputError,
                     LayoutError, ModelError, OptionError, PhyscallError, PreflightError, UnknownBackend,
                     UsageError, VerificationError)
from .regs import Regs
from .asm import Assembly, asm
from .call import Buffer, Call, FarCall, Interrupt, Routine, far_call, interrupt
from .layout import Layout, Placed, lay_out
from .outcome import Outcome, Result
from .invoke import BACKENDS, invoke

__version__ = "0.1.0"

__all__ = [
    "AssemblyError", "Assembly", "BACKENDS", "BackendError", "Buffer", "Call", "CallError",
    "ConfirmationRequired", "FarCall", "InputError", "Interrupt", "LayoutError", "Layout", "ModelError",
    "OptionError", "Outcome", "PhyscallError", "Placed", "PreflightError", "Regs", "Result", "Routine", "UnknownBackend",
    "UsageError", "VerificationError", "__version__", "asm", "far_call", "interrupt", "invoke", "lay_out",
]
