"""Regs: views of one storage, immutability, CF preset, range errors."""

import pytest
from hypothesis import given, strategies as st

from physcall.regs import CF, FIELDS, VIEWS, WIDTH, Regs

u32 = st.integers(0, 0xFFFFFFFF)


@given(st.fixed_dictionaries({name: st.integers(0, WIDTH[name]) for name in FIELDS}))
def test_full_registers_round_trip(values):
    assert Regs(**values).as_dict() == values


@given(u32, st.integers(0, 0xFF), st.integers(0, 0xFF))
def test_views_share_storage(eax, ah, al):
    r = Regs(eax=eax).replace(ah=ah, al=al)
    assert r.eax == (eax & 0xFFFF0000) | (ah << 8) | al
    assert r.ax == (ah << 8) | al and r.ah == ah and r.al == al


@given(st.sampled_from(sorted(VIEWS)), u32, st.data())
def test_each_view_writes_only_its_bits(view, start, data):
    full, shift, mask = VIEWS[view]
    start &= WIDTH[full]
    value = data.draw(st.integers(0, mask))
    r = Regs(**{full: start}).replace(**{view: value})
    assert getattr(r, view) == value
    assert getattr(r, full) & ~(mask << shift) == start & ~(mask << shift)


def test_default_presets_cf_like_initregs():
    assert Regs().cf and Regs().eflags & CF
    assert not Regs(eflags=0x2).cf


def test_immutable_and_replace_returns_new():
    r = Regs(eax=1)
    with pytest.raises(AttributeError, match="replace"):
        r.eax = 2
    assert r.replace(eax=2).eax == 2 and r.eax == 1


@pytest.mark.parametrize("kw", [{"ax": 0x10000}, {"al": 256}, {"es": 0x10000}, {"eax": -1},
                                {"eax": 1 << 32}])
def test_out_of_range_is_value_error(kw):
    with pytest.raises(ValueError, match="out of range"):
        Regs(**kw)


def test_unknown_register_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown register qax.*eax"):
        Regs(qax=1)


def test_equality_and_hash():
    assert Regs(ax=5) == Regs(eax=5) and hash(Regs(ax=5)) == hash(Regs(eax=5))
    assert Regs(ax=5) != Regs(ax=6)


def test_pickles_by_value():
    import pickle
    r = Regs(eax=0xE820, es=0x2000, eflags=0x202)
    assert pickle.loads(pickle.dumps(r)) == r
