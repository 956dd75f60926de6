"""Registers in the spirit of the kernel's ``struct biosregs`` (arch/x86/boot/boot.h).

One storage of 32-bit values with ``ax``/``al``/``ah``-style views; immutable; ``replace()`` makes a new
set.  The default FLAGS carry CF=1, like ``initregs()`` in arch/x86/boot/regs.c: a BIOS that silently
does nothing leaves CF set and is caught as a failure instead of being read as success.

>>> r = Regs(eax=0x1234E820)
>>> hex(r.ax), hex(r.ah), hex(r.al), r.cf
('0xe820', '0xe8', '0x20', True)
>>> r.replace(al=0x01).eax == 0x1234E801
True
"""

from .errors import CallError, UsageError

GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")
SEGS = ("ds", "es", "fs", "gs")
FIELDS = GPRS + SEGS + ("eflags",)

CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
FLAGS_RESERVED = 0x2                      # bit 1 of EFLAGS always reads as 1
DEFAULT_EFLAGS = FLAGS_RESERVED | CF      # CF preset: see the module docstring

# view name -> (full register, shift, mask)
VIEWS = {}
for _r in "abcd":
    VIEWS[_r + "x"] = ("e%sx" % _r, 0, 0xFFFF)
    VIEWS[_r + "l"] = ("e%sx" % _r, 0, 0xFF)
    VIEWS[_r + "h"] = ("e%sx" % _r, 8, 0xFF)
for _r in ("si", "di", "bp"):
    VIEWS[_r] = ("e" + _r, 0, 0xFFFF)
VIEWS["flags"] = ("eflags", 0, 0xFFFF)
del _r

WIDTH = {name: 0xFFFFFFFF for name in GPRS + ("eflags",)}
WIDTH.update({name: 0xFFFF for name in SEGS})
NAMES = FIELDS + tuple(VIEWS)
_NAMES = frozenset(NAMES)


def _check(name, value, mask):
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError("register %s takes an int, not %r" % (name, type(value).__name__))
    if not 0 <= value <= mask:
        raise CallError("register %s = %#x is out of range: %s holds 0..%#x"
                         % (name, value, name, mask))


class Regs:
    """Immutable register set: eax..ebp, ds/es/fs/gs, eflags, with 16- and 8-bit views.

    Any register or view can be given by keyword; views are applied after full registers.

    >>> Regs(ax=0x4F00, es=0x2000).eax
    20224
    """

    __slots__ = FIELDS

    def __init__(self, **values):
        base = {name: 0 for name in FIELDS}
        base["eflags"] = DEFAULT_EFLAGS
        for name, value in _apply(base, values).items():
            object.__setattr__(self, name, value)

    @classmethod
    def _of(cls, values):
        """A Regs from every field of FIELDS, each already an int within its width (the emulator's
        registers, read and masked): the checks of ``Regs(**values)`` without their cost.

        >>> Regs._of(Regs(ax=5).as_dict()) == Regs(ax=5)
        True
        """
        regs = object.__new__(cls)
        for name in FIELDS:
            object.__setattr__(regs, name, values[name] & WIDTH[name])
        return regs

    def replace(self, **values):
        """A copy with some registers or views changed: ``regs.replace(ah=0x0E, al=ord("A"))``."""
        return Regs._of(_apply(self.as_dict(), values))         # _apply checked what changed

    def as_dict(self):
        """Full registers as a dict: ``{"eax": ..., ..., "eflags": ...}``."""
        return {name: getattr(self, name) for name in FIELDS}

    def __getattr__(self, name):
        view = VIEWS.get(name)
        if view is None:
            raise AttributeError("Regs has no register %r; known: %s" % (name, ", ".join(NAMES)))
        full, shift, mask = view
        return (getattr(self, full) >> shift) & mask

    def __setattr__(self, name, value):
        raise AttributeError("Regs is immutable: use regs.replace(%s=...)" % name)

    @property
    def cf(self):
        """Carry flag: set by most BIOS services on failure."""
        return bool(self.eflags & CF)

    @property
    def zf(self):
        """Zero flag: int 16h/01h reports 'no key' with ZF=1."""
        return bool(self.eflags & ZF)

    def flag(self, mask):
        """True when every bit of ``mask`` is set in EFLAGS: ``regs.flag(physcall.regs.DF)``."""
        return self.eflags & mask == mask

    def __reduce__(self):         # pickle by value (copies, multiprocessing); the guest gets JSON
        return (_from_dict, (self.as_dict(),))

    def __eq__(self, other):
        return isinstance(other, Regs) and self.as_dict() == other.as_dict()

    def __hash__(self):
        return hash(tuple(self.as_dict().values()))

    def __repr__(self):
        parts = ["%s=%#x" % (n, v) for n, v in self.as_dict().items() if v or n == "eax"]
        return "Regs(%s)" % ", ".join(parts)


def _from_dict(values):
    return Regs(**values)


def _apply(base, values):
    """Apply full registers first, then views, checking names and ranges."""
    unknown = set(values) - _NAMES
    if unknown:
        raise CallError("unknown register %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(NAMES)))
    out = dict(base)
    for name in FIELDS:
        if name in values:
            _check(name, values[name], WIDTH[name])
            out[name] = values[name]
    for name, (full, shift, mask) in VIEWS.items():
        if name in values:
            _check(name, values[name], mask)
            out[full] = (out[full] & ~(mask << shift)) | (values[name] << shift)
    return out
