"""The emulator backend: Unicorn with a model of the BIOS runs a batch offline, the "dry run".

>>> from physcall.emulator import Machine, Firmware, Policy, Report, run
"""

from .firmware import STUB_TRAP_PORT, Firmware, from_elf_core, from_raw
from .machine import Machine, run
from .policy import Policy
from .report import Report

__all__ = ["Firmware", "Machine", "Policy", "Report", "STUB_TRAP_PORT", "from_elf_core", "from_raw", "run"]
