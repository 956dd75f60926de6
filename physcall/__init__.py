"""physcall: run BIOS services and real-mode or flat 32-bit routines from 64-bit Linux.

>>> import physcall
>>> physcall.Regs(ax=0xE820).ax == 0xE820
True
"""

from .errors import (AssemblyError, BackendError, ConfirmationRequired, LayoutError, PhyscallError,
                     PreflightError, VerificationError)
from .regs import Regs
from .asm import Assembly, asm

__version__ = "0.1.0"

__all__ = [
    "AssemblyError", "Assembly", "BackendError", "ConfirmationRequired", "LayoutError",
    "PhyscallError", "PreflightError", "Regs", "VerificationError", "asm", "__version__",
]
