"""The host side's foreign functions, all through cffi (abi.py is the cffi view of csrc/physcall.h).

libc's ``syscall``, ``mlock``, ``munlock`` and ``prctl``; ``struct kexec_segment`` as the kernel's uapi
header declares it; and the TSC from csrc/hostlib.c, a compiled function in a small shared object that
physcall.toolchain builds beside the trampoline.  Nothing here maps memory writable and executable.

>>> isinstance(rdtsc(), int), rdtsc() <= rdtsc()
(True, True)
"""

import os

import cffi

from . import toolchain

ffi = cffi.FFI()
ffi.cdef("""
long syscall(long number, ...);
int mlock(const void *addr, size_t len);
int munlock(const void *addr, size_t len);
int prctl(int option, ...);
uint64_t physcall_rdtsc(void);
""")
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
