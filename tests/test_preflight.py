"""Pre-flight checks against fake /proc and /sys trees, and the kexec backend's refusals on the host.

Nothing here calls kexec_load or reboot: run_kexec refuses before any syscall.
"""

import gzip

import pytest

from physcall import kexec, preflight
from physcall.errors import ConfirmationRequired, PreflightError


def fake_root(tmp_path, disabled="0", loaded="0", lockdown="[none] integrity confidentiality",
              config="CONFIG_KEXEC=y\nCONFIG_KEXEC_JUMP=y\n", efi=False):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/kexec_load_disabled").write_text(disabled + "\n")
    (tmp_path / "proc/config.gz").write_bytes(gzip.compress(config.encode()))
    (tmp_path / "sys/kernel/security").mkdir(parents=True)
    (tmp_path / "sys/kernel/kexec_loaded").write_text(loaded + "\n")
    (tmp_path / "sys/kernel/security/lockdown").write_text(lockdown + "\n")
    if efi:
        (tmp_path / "sys/firmware/efi").mkdir(parents=True)
    ivt = bytearray(0x400)
    for vector in range(256):
        ivt[vector * 4:vector * 4 + 4] = (0xF841).to_bytes(2, "little") + (0xF000).to_bytes(2, "little")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/mem").write_bytes(bytes(ivt) + b"\0" * 0x100)
    return preflight.Paths(str(tmp_path))


def by_name(table):
    return {c.name: c for c in table}


def test_good_machine_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight.platform, "release", lambda: "6.12.117")
    table = preflight.require(paths=fake_root(tmp_path))
    assert all(c.ok is not False for c in table), table


@pytest.mark.parametrize("kw,name,fix", [
    ({"disabled": "1"}, "kexec-load-enabled", "kexec_load_disabled"),
    ({"loaded": "1"}, "nothing-loaded", "kexec -u"),
    ({"lockdown": "none [integrity] confidentiality"}, "lockdown", "lockdown=none"),
    ({"config": "CONFIG_KEXEC=y\n# CONFIG_KEXEC_JUMP is not set\n"}, "kexec-jump", "CONFIG_KEXEC_JUMP=y"),
    ({"efi": True}, "legacy-bios", "legacy/CSM"),
])
def test_each_failure_is_named_with_its_fix(tmp_path, monkeypatch, kw, name, fix):
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight.platform, "release", lambda: "6.12.117")
    with pytest.raises(PreflightError) as info:
        preflight.require(paths=fake_root(tmp_path, **kw))
    failed = [c for c in info.value.checks if c.ok is False]
    assert [c.name for c in failed] == [name]
    assert fix in str(info.value)


def test_force_accepts_a_loaded_image(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight.platform, "release", lambda: "6.12.117")
    paths = fake_root(tmp_path, loaded="1")
    assert by_name(preflight.require(force=True, paths=paths))["nothing-loaded"].ok is True


def test_old_kernel_fails_the_gdt_check(monkeypatch):
    monkeypatch.setattr(preflight.platform, "release", lambda: "6.1.0-37-amd64")
    assert preflight.check_gdt_fix().ok is False


def test_ivt_outside_the_roms_fails(tmp_path):
    paths = fake_root(tmp_path)
    mem = bytearray((tmp_path / "dev/mem").read_bytes())
    mem[0x13 * 4:0x13 * 4 + 4] = b"\x00\x00\x00\x90"          # int 13h -> 9000:0000 (RAM)
    (tmp_path / "dev/mem").write_bytes(bytes(mem))
    check = preflight.check_legacy_bios(paths)
    assert check.ok is False and "13h" in check.detail


def test_ebda_from_bda(tmp_path):
    paths = fake_root(tmp_path)
    mem = bytearray((tmp_path / "dev/mem").read_bytes())
    mem[0x40E:0x410] = (0x9FC0).to_bytes(2, "little")
    mem[0x413:0x415] = (639).to_bytes(2, "little")
    (tmp_path / "dev/mem").write_bytes(bytes(mem))
    assert preflight.ebda_base(paths) == 0x9FC00


def test_no_confirmation_is_refused_before_anything(monkeypatch):
    called = []
    for name in ("syscall", "kexec_load", "reboot_kexec", "Mailbox", "JumpLock"):
        monkeypatch.setattr(kexec, name, lambda *a, _name=name, **k: called.append(_name))
    monkeypatch.setattr(kexec.preflight, "require", lambda *a, **k: called.append("preflight"))
    with pytest.raises(ConfirmationRequired):
        kexec.run_kexec(object(), confirm=False)
    with pytest.raises(ConfirmationRequired):
        kexec.run_kexec(object(), confirm="yes")             # only True confirms
    assert called == []
    with pytest.raises(TypeError):                           # the recorder itself works: confirmed,
        kexec.run_kexec(object(), confirm=True)              # it reaches the pre-flight, lock, ...
    assert called[:2] == ["preflight", "JumpLock"]
