"""The physcall ABI, read from ``csrc/physcall.h`` through cffi's ``cdef`` (one source of truth).

The header's text between the ``cdef-begin``/``cdef-end`` markers is handed to cffi; every
``#define NAME <integer>`` there becomes a module constant here, with and without the ``PC_`` prefix.

>>> from physcall import abi
>>> hex(abi.BATCH_BASE), abi.ffi.sizeof("struct pc_call")
('0x20000', 128)
"""

import pathlib
import re

import cffi

from .resources import CSRC

HEADER = CSRC / "physcall.h"
_DEFINE = re.compile(r"^\s*#\s*define\s+(PC_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b")


def cdef_text(path=HEADER):
    """The cdef part of the header: between the markers, ``#define NAME int`` lines kept, nothing else
    starting with ``#``."""
    text = pathlib.Path(path).read_text()
    try:
        body = text.split("/* cdef-begin */", 1)[1].split("/* cdef-end */", 1)[0]
    except IndexError:
        raise ImportError("physcall: %s lacks the cdef-begin/cdef-end markers" % path) from None
    lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith("#") or _DEFINE.match(ln)]
    return "\n".join(lines)


def constants(path=HEADER):
    """``{"PC_BATCH_BASE": 0x20000, ...}`` from the header's integer defines."""
    out = {}
    for line in cdef_text(path).splitlines():
        m = _DEFINE.match(line)
        if m:
            out[m.group(1)] = int(m.group(2), 0)
    return out


ffi = cffi.FFI()
ffi.cdef(cdef_text())

CONSTANTS = constants()
globals().update(CONSTANTS)
globals().update({name[3:]: value for name, value in CONSTANTS.items()})

SIZEOF_CALL = ffi.sizeof("struct pc_call")
SIZEOF_HEADER = ffi.sizeof("struct pc_header")
SIZEOF_BLOCK = ffi.sizeof("struct pc_block")
BLOCK_CALLS_OFFSET = ffi.offsetof("struct pc_block", "calls")   # calls[] last in the block
RESULT_CALLS_OFFSET = SIZEOF_HEADER        # mailbox: header, then calls[count], then buffer bytes


def new_block():
    """A zeroed ``struct pc_block`` with magic, version and header size set."""
    block = ffi.new("struct pc_block *")
    block.hdr.magic = PC_MAGIC             # noqa: F821 (set by globals().update above)
    block.hdr.version = PC_VERSION         # noqa: F821
    block.hdr.header_size = SIZEOF_HEADER
    return block


def block_bytes(block):
    """The raw bytes of a ``struct pc_block *``."""
    return bytes(ffi.buffer(block))
