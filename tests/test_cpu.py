"""physcall.emulator.cpu against Unicorn's own Python binding (the oracle): what one batch writes the
binding reads back register by register, and what the binding writes one batch reads."""

from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from physcall.emulator import machine
from physcall.emulator.cpu import MSRS, Registers

NAMES = ("cr0", "ds", "es", "fs", "gs", "ss", "esp", "cs", "eax", "ebx", "ecx", "edx", "esi", "edi",
         "ebp", "eflags", "gdtr", "idtr", "cr3", "efer", "eip")
WORD, DWORD = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
MMR = st.tuples(st.just(0), DWORD, WORD, st.just(0))       # GDTR/IDTR: no selector, no flags


def real_mode():
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.reg_write(X.UC_X86_REG_CR0, machine.CR0_REAL)       # segment loads take any selector
    return uc


def binding_read(uc, name):
    if name in MSRS:
        return uc.msr_read(MSRS[name])
    return uc.reg_read(getattr(X, "UC_X86_REG_" + name.upper()))


def binding_write(uc, name, value):
    if name in MSRS:
        return uc.msr_write(MSRS[name], value)
    uc.reg_write(getattr(X, "UC_X86_REG_" + name.upper()), value)


def values():
    segs = {name: WORD for name in ("ds", "es", "fs", "gs", "ss", "cs")}
    # EFLAGS bit 1 reads as 1 and some bits are not writable: the batch must read what the binding reads
    return st.fixed_dictionaries(dict(segs, cr0=st.just(machine.CR0_REAL), gdtr=MMR, idtr=MMR,
                                      cr3=DWORD.map(lambda v: v & ~0xFFF), efer=st.just(0), eip=WORD,
                                      eflags=DWORD,
                                      **{n: DWORD for n in ("esp", "eax", "ebx", "ecx", "edx", "esi",
                                                            "edi", "ebp")}))


@settings(max_examples=60, deadline=None)
@given(values())
def test_a_batch_write_reads_back_through_the_binding(regs):
    uc = real_mode()
    Registers(uc, NAMES).write(*[regs[n] for n in NAMES])
    assert Registers(uc, NAMES).read() == {n: binding_read(uc, n) for n in NAMES}
    for name in ("eax", "esp", "cs", "ss", "cr3"):
        assert binding_read(uc, name) == regs[name]
    assert binding_read(uc, "gdtr")[1:3] == regs["gdtr"][1:3]


@settings(max_examples=60, deadline=None)
@given(values())
def test_a_batch_read_sees_what_the_binding_wrote(regs):
    uc = real_mode()
    for name in NAMES:
        binding_write(uc, name, regs[name])
    assert Registers(uc, NAMES).read() == {n: binding_read(uc, n) for n in NAMES}


def test_a_narrow_register_read_after_a_wide_value_has_no_stale_high_bits():
    """Unicorn writes 2 bytes for a segment register: the rest of the slot must not keep older bytes."""
    uc = real_mode()
    wide, narrow = Registers(uc, ("eax",)), Registers(uc, ("ds",))
    wide.write(0xFFFFFFFF)
    narrow._slots[0] = 0xFFFFFFFFFFFFFFFF
    uc.reg_write(X.UC_X86_REG_DS, 0x1234)
    assert narrow.read() == {"ds": 0x1234}
