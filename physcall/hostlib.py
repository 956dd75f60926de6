"""The host side's foreign functions, all through cffi (abi.py is the cffi view of csrc/physcall.h).

libc's ``syscall``, ``mlock``, ``munlock``, ``prctl`` and ``memcmp``; ``struct kexec_segment`` as the kernel's uapi
header declares it; Unicorn's ``uc_ctl``, ``uc_emu_stop`` and ``uc_hook_add`` for the compiled block
counter, and its batch register calls with the x86 value types of its ``x86.h`` (physcall.emulator.cpu);
and libphyscall.so, a small shared object that physcall.toolchain builds beside the
trampoline (csrc/hostlib.h declares it: the TSC, the block counter).  Nothing here maps memory
writable and executable.

>>> isinstance(rdtsc(), int), rdtsc() <= rdtsc()
(True, True)
"""

import os

import cffi

from . import toolchain
from .abi import cdef_text
from .resources import CSRC

ffi = cffi.FFI()
ffi.cdef("""
long syscall(long number, ...);
int mlock(const void *addr, size_t len);
int munlock(const void *addr, size_t len);
int prctl(int option, ...);
int memcmp(const void *a, const void *b, size_t n);
int uc_ctl(void *uc, int control, ...);
int uc_emu_stop(void *uc);
int uc_reg_read(void *uc, int regid, void *value);
int uc_reg_write(void *uc, int regid, const void *value);
int uc_mem_read(void *uc, uint64_t address, void *bytes, uint64_t size);
int uc_mem_write(void *uc, uint64_t address, const void *bytes, uint64_t size);
int uc_hook_add(void *uc, size_t *hh, int type, void *callback, void *user_data, uint64_t begin,
                uint64_t end, ...);
int uc_reg_read_batch(void *uc, int *regs, void **vals, int count);
int uc_reg_write_batch(void *uc, int *regs, void **vals, int count);
typedef struct { uint16_t selector; uint64_t base; uint32_t limit; uint32_t flags; } uc_x86_mmr;
typedef struct { uint32_t rid; uint64_t value; } uc_x86_msr;
/* one register of a batch (physcall/emulator/cpu.py): room for any of Unicorn's x86 value types */
union pc_reg_slot { uint64_t value; uc_x86_mmr mmr; uc_x86_msr msr; };
""")
ffi.cdef(cdef_text(CSRC / "hostlib.h"))
_LOADED = {}


def libc():
    """The C library of this process."""
    if "libc" not in _LOADED:
        _LOADED["libc"] = ffi.dlopen(None)
    return _LOADED["libc"]


def helper():
    """csrc/hostlib.c's shared object, built (or found in the cache) on first use; also declares
    ``struct kexec_segment`` from the uapi header text cached beside it."""
    if "cdef" not in _LOADED:
        ffi.cdef(toolchain.built_file("kexec_segment.cdef").read_text())
        _LOADED["cdef"] = True
    if "helper" not in _LOADED:
        _LOADED["helper"] = ffi.dlopen(str(toolchain.built_file("libphyscall.so")))
    return _LOADED["helper"]


def unicorn(uc):
    """The library behind a Unicorn binding's ``uc`` (the same one: dlopen finds it loaded), for the
    functions the compiled counter calls."""
    if "unicorn" not in _LOADED:
        from unicorn.unicorn_py3 import unicorn as binding
        _LOADED["unicorn"] = ffi.dlopen(binding.uclib._name)
    return _LOADED["unicorn"]


def rdtsc():
    """The time stamp counter."""
    return helper().physcall_rdtsc()


def syscall(number, *args):
    """syscall(2) with unsigned long arguments (cdata passes as it is); OSError from errno.

    >>> syscall(39) == os.getpid()                       # SYS_getpid on x86-64
    True
    """
    args = [a if isinstance(a, ffi.CData) else ffi.cast("unsigned long", a) for a in args]
    res = libc().syscall(number, *args)
    if res < 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno))
    return res
