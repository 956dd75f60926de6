"""The host side's one FFI (physcall.hostlib, cffi): the kernel's own struct, compiled code, no W+X.

Oracles: gcc's view of <linux/kexec.h> (sizeof and offsetof, compiled and run here), and the
process's own /proc/self/maps.
"""

import os
import subprocess
import sys

from physcall import hostlib, toolchain

FIELDS = ("buf", "bufsz", "mem", "memsz")


def test_kexec_segment_is_laid_out_as_gcc_sees_the_uapi_header(tmp_path):
    src = tmp_path / "layout.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include <linux/kexec.h>\n"
                   "int main(void) { printf(\"%zu" + " %zu" * len(FIELDS) + "\\n\", "
                   "sizeof(struct kexec_segment)"
                   + "".join(", offsetof(struct kexec_segment, %s)" % f for f in FIELDS) + "); return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "layout"), str(src)], check=True)
    oracle = [int(n) for n in subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                                             check=True).stdout.split()]
    hostlib.helper()
    ffi = hostlib.ffi
    assert [ffi.sizeof("struct kexec_segment")] + [ffi.offsetof("struct kexec_segment", f) for f in FIELDS] \
        == oracle


def test_the_declaration_comes_from_the_header_not_from_physcall():
    cdef = toolchain.built_file("kexec_segment.cdef").read_text()
    assert "struct kexec_segment {" in cdef and "__kernel_size_t bufsz;" in cdef
    assert "physcall" not in cdef


def test_helper_lives_in_the_trampolines_build_directory():
    """So the payload that carries the trampoline into the guest carries the helper too."""
    assert toolchain.built_file("libphyscall.so").parent == toolchain.build_trampoline().parent


def test_rdtsc_counts_up():
    a, b = hostlib.rdtsc(), hostlib.rdtsc()
    assert 0 < a < b


def test_the_host_side_maps_nothing_writable_and_executable():
    """rdtsc used to run from a writable and executable page; a fresh process shows there is none now."""
    code = ("from physcall import hostlib, kexec\n"
            "hostlib.rdtsc(); kexec.tsc_mhz(); hostlib.helper()\n"
            "print(open('/proc/self/maps').read())\n")
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=os.getcwd())).stdout.split("\n")
    maps = [line for line in maps if line.strip()]
    assert any("libphyscall.so" in line for line in maps)
    assert [line for line in maps if "w" in line.split()[1] and "x" in line.split()[1]] == []
