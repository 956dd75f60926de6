"""The Keystone wrapper: errors carry their line; 16-bit encodings are checked against Capstone."""

import capstone
import pytest

from physcall import AssemblyError, asm

CS16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)


def disasm(code, origin=0):
    return [(i.mnemonic, i.op_str, i.size) for i in CS16.disasm(code, origin)]


def test_error_names_line_and_text():
    src = "mov ax, 1\n; a comment\nmov qx, 2\nret"
    with pytest.raises(AssemblyError) as err:
        asm(src)
    assert err.value.line == 3 and "mov qx, 2" in str(err.value) and "line 3" in str(err.value)


def test_undefined_symbol_names_its_line():
    with pytest.raises(AssemblyError, match="line 2: undefined symbol in .jmp nowhere."):
        asm("nop\njmp nowhere\nret")


def test_duplicate_label_names_both_lines():
    with pytest.raises(AssemblyError, match="line 3: label 'a' already defined on line 1"):
        asm("a: nop\nnop\na: ret")


def test_is_a_value_error_and_physcall_error():
    import physcall
    with pytest.raises(ValueError):
        asm("bogus")
    with pytest.raises(physcall.PhyscallError):
        asm("bogus")


@pytest.mark.parametrize("src, expect", [
    ("ret", [("ret", "", 1)]),
    ("retf", [("retf", "", 1)]),
    ("ret 4", [("ret", "4", 3)]),
    ("retf 2", [("retf", "2", 3)]),
    ("push 0x1234", [("push", "0x1234", 3)]),
    ("call f\nf: ret", [("call", "3", 3), ("ret", "", 1)]),
    ("l: jz l", [("je", "0", 2)]),              # short, as GNU as relaxes it
    ("l: jz l\n.fill 200, 1, 0x90\nnop\njz l", [("je", "0", 2)] + [("nop", "", 1)] * 201
     + [("je", "0", 4)]),
    ("jmp l\n.org 0x300\nl: nop", [("jmp", "0x300", 3)]),
])
def test_real16_encodings_have_no_operand_size_prefix(src, expect):
    got = disasm(asm(src).code)
    assert got[:len(expect)] == expect


def test_symbols_are_absolute_with_origin():
    a = asm("start: nop\nmsg: .ascii \"hi;#\"\nend:", origin=0x7C00)
    assert a.symbols == {"start": 0x7C00, "msg": 0x7C01, "end": 0x7C05}
    assert a.code == b"\x90hi;#"


def test_defines_supply_external_symbols():
    assert asm("mov ax, TABLE", defines={"TABLE": 0x1234}).code == bytes.fromhex("b83412")


def test_flat32_is_32_bit():
    cs32 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    code = asm("mov eax, [0x100000]\nret", mode="flat32").code
    assert [(i.mnemonic, i.op_str) for i in cs32.disasm(code, 0)] == [
        ("mov", "eax, dword ptr [0x100000]"), ("ret", "")]


def test_unknown_mode_lists_choices():
    with pytest.raises(ValueError, match="real16, flat32"):
        asm("nop", mode="long64")


def test_cached():
    assert asm("nop\nret") is asm("nop\nret")


def test_numbers_are_decimal_with_defines_too():
    assert asm("mov cx, 24").code == bytes.fromhex("b91800")
    assert asm("mov cx, 24\nmov ax, T", defines={"T": 10}).code == bytes.fromhex("b91800b80a00")


@pytest.mark.parametrize("origin", [0, 0x100, 0xE000])
@pytest.mark.parametrize("src", ["nop\ncall 0xf000", "nop\ncall T", "nop\njmp T", "nop\njz 0f000h"])
def test_near_branch_to_absolute_target(src, origin):
    code = asm(src, origin=origin, defines={"T": 0xF000}).code
    insn = list(CS16.disasm(code, origin))[1]
    assert int(insn.op_str, 16) & 0xFFFF == 0xF000 and insn.bytes[0] != 0x66
