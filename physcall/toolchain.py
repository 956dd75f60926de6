"""physcall's C parts, built with the system's gcc and ld on first use and cached.

One build directory, ``~/.cache/physcall/trampoline/<hash of csrc sources and tool versions>/``,
holds everything compiled: ``trampoline.elf`` (csrc/trampoline.S, the image's code), and for the host
side of the jump and the emulator ``libphyscall.so`` (csrc/hostlib.c: the TSC; csrc/counter.c: the
dry run's instruction counter; csrc/dispatch.c: its interrupt dispatch; csrc/ports.c: its port fast
path; csrc/edges.c: the filter in front of its block check; declared in csrc/hostlib.h,
loaded with cffi by physcall.hostlib) and
``kexec_segment.cdef`` (struct kexec_segment as the kernel's uapi header <linux/kexec.h> declares it,
for cffi).  physcall.cache checks the owner and mode of the directory before anything in it is
loaded.  The guest has no gcc: its payload carries the host's build directory at its host path.

>>> build_trampoline().name, built_file("libphyscall.so").name
('trampoline.elf', 'libphyscall.so')
"""

import hashlib
import logging
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
from typing import NamedTuple

from . import abi, cache
from .errors import BackendError
from .resources import CSRC

log = logging.getLogger("physcall")

SOURCES = ("physcall.h", "asm-offsets.c", "trampoline.S", "trampoline.ld.S", "hostlib.h", "hostlib.c",
           "counter.c", "dispatch.c", "ports.c", "edges.c")
OUTPUTS = ("trampoline.elf", "libphyscall.so", "kexec_segment.cdef")


def _tool_version(tool):
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BackendError("physcall: cannot run %r to build the trampoline (%s)\n  fix: apt-get install "
                           "gcc binutils" % (tool, exc)) from None
    return out.splitlines()[0]


def source_hash():
    """Hash of the csrc sources (the first half of the cache key)."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (CSRC / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def tools_hash():
    """Hash of the compiler and linker versions (the second half of the cache key)."""
    return hashlib.sha256("\n".join(_tool_version(t) for t in ("gcc", "ld")).encode()).hexdigest()[:8]


def build_trampoline(force=False):
    """Path of the trampoline ELF, built on first use (gcc -S for the offsets, gcc -c, ld -T).

    ``$PHYSCALL_TRAMPOLINE`` names a prebuilt ELF instead.  Without a compiler (physcall's guest runs
    from RAM with no gcc, and its Guest passes the host's build in ``$PHYSCALL_TRAMPOLINE``) a cached
    build of the same sources is used.  Whatever is returned passed physcall.cache's ownership rule:
    root jumps into it.

    >>> build_trampoline().name
    'trampoline.elf'
    """
    if os.environ.get("PHYSCALL_TRAMPOLINE"):
        return cache.trusted_file(os.environ["PHYSCALL_TRAMPOLINE"], "PHYSCALL_TRAMPOLINE override")
    src = source_hash()
    try:
        key = "%s-%s" % (src, tools_hash())
    except BackendError:
        built = sorted(cache.cache_dir("trampoline").glob(src + "-*/trampoline.elf"))
        if built and not force:
            return cache.trusted_file(built[-1], "cached trampoline")
        raise
    out = cache.cache_dir("trampoline") / key
    elf = out / "trampoline.elf"
    if os.path.lexists(elf) and not force:          # one build writes all OUTPUTS or none (rename)
        return cache.trusted_file(elf, "cached trampoline")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    try:
        _compile(tmp)
        for built in tmp.iterdir():          # whatever the umask: closed to group and others
            os.chmod(built, 0o644)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("physcall: built the trampoline in %s", out)
    return cache.trusted_file(elf, "cached trampoline")


def _compile(tmp):
    inc = ["-I", str(tmp), "-I", str(CSRC)]
    offsets = _run(["gcc", "-S", "-o", "-"] + inc + [str(CSRC / "asm-offsets.c")])
    (tmp / "asm-offsets.inc").write_text(
        "".join(line.strip() + "\n" for line in offsets.splitlines() if line.strip().startswith(".equ ")))
    _run(["gcc", "-c", "-m64", "-nostdlib", "-x", "assembler-with-cpp"] + inc
         + [str(CSRC / "trampoline.S"), "-o", str(tmp / "trampoline.o")])
    _run(["gcc", "-E", "-P", "-x", "c", "-D__ASSEMBLER__"] + inc
         + [str(CSRC / "trampoline.ld.S"), "-o", str(tmp / "trampoline.ld")])
    _run(["ld", "-m", "elf_x86_64", "-T", str(tmp / "trampoline.ld"), "-nostdlib", "-static",
          "-z", "max-page-size=4096", "-z", "noexecstack", "--no-warn-rwx-segments",
          "-o", str(tmp / "trampoline.elf"), str(tmp / "trampoline.o")])
    _run(["gcc", "-O2", "-shared", "-fPIC", "-Wl,-z,noexecstack", "-I", str(CSRC),
          "-o", str(tmp / "libphyscall.so"), str(CSRC / "hostlib.c"), str(CSRC / "counter.c"),
          str(CSRC / "dispatch.c"), str(CSRC / "ports.c"), str(CSRC / "edges.c")])
    uapi = _run(["gcc", "-E", "-P", "-x", "c", "-"], stdin="#include <linux/kexec.h>\n")
    (tmp / "kexec_segment.cdef").write_text(declaration(uapi, "struct kexec_segment"))


def declaration(preprocessed, name):
    """``name``'s definition from preprocessed C, after the typedefs it needs, innermost first.

    >>> declaration("typedef unsigned long __u; typedef __u __s;\\nstruct s { __s n; };", "struct s")
    'typedef unsigned long __u;\\ntypedef __u __s;\\nstruct s { __s n; };\\n'
    """
    found = re.search(r"%s\s*\{[^}]*\};" % re.escape(name), preprocessed)
    if found is None:
        raise BackendError("physcall: no %s in the kernel's uapi headers\n  fix: apt-get install "
                           "linux-libc-dev" % name)
    typedefs, pending = [], re.findall(r"\b(__\w+)\b", found.group(0))
    while pending:
        alias = pending.pop()
        typedef = re.search(r"typedef\s+([^;]*?)\s+%s\s*;" % re.escape(alias), preprocessed)
        if typedef and "typedef %s %s;" % (typedef.group(1), alias) not in typedefs:
            typedefs.insert(0, "typedef %s %s;" % (typedef.group(1), alias))
            pending += re.findall(r"\b(__\w+)\b", typedef.group(1))
    return "\n".join(typedefs + [found.group(0)]) + "\n"


def _run(argv, stdin=None):
    proc = subprocess.run(argv, capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        raise BackendError("physcall: building the trampoline failed: %s\n%s"
                           % (" ".join(argv), (proc.stderr or proc.stdout).strip()))
    return proc.stdout


class Trampoline(NamedTuple):
    """The built trampoline: its one PT_LOAD (``base``, ``data``), entry and block address."""
    base: int
    data: bytes
    entry: int
    block: int
    symbols: dict


def built_file(name):
    """``name`` (one of OUTPUTS) from the trampoline's build directory, checked like the trampoline."""
    return cache.trusted_file(build_trampoline().parent / name, "cached " + name)


def load_trampoline(path=None):
    """Read the trampoline ELF with pyelftools."""
    from elftools.elf.elffile import ELFFile
    path = path or build_trampoline()
    with open(path, "rb") as f:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        if len(loads) != 1:
            raise BackendError("physcall: %s has %d PT_LOAD segments, expected one" % (path, len(loads)))
        seg = loads[0]
        data = seg.data().ljust(seg["p_memsz"], b"\0")
        syms = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
        tramp = Trampoline(seg["p_paddr"], data, elf["e_entry"], syms["pc_block"], syms)
    if tramp.base != abi.TRAMPOLINE_BASE or tramp.base + len(tramp.data) > abi.TRAMPOLINE_LIMIT:
        raise BackendError("physcall: trampoline at %#x+%#x is outside [%#x, %#x)"
                           % (tramp.base, len(tramp.data), abi.TRAMPOLINE_BASE, abi.TRAMPOLINE_LIMIT))
    return tramp
