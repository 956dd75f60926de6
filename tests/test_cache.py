"""A cache another user can write is never used (physcall.cache), and nothing is written into it.

The attack from issue 8: uid 65534 plants a trampoline under a shared XDG_CACHE_HOME at the predictable
cache key, and root jumps into it.  The directories are made with the owners and modes of each case
(root can chown), and physcall must refuse before it reads or writes anything there.
"""

import os
import shutil

import pytest

from physcall import cache, image, toolchain
from physcall.call import interrupt
from physcall.errors import CacheError, PhyscallError
from physcall.layout import lay_out

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def real_elf():
    return toolchain.build_trampoline()          # the user's own build, from the real cache (xdg: before)


@pytest.fixture
def xdg(real_elf, tmp_path, monkeypatch):
    monkeypatch.delenv("PHYSCALL_TRAMPOLINE", raising=False)
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    return shared


@needs_root
def test_cache_owned_by_another_user_is_refused_and_left_untouched(xdg):
    os.chown(xdg, NOBODY, NOBODY)
    with pytest.raises(CacheError, match="owned by uid 65534"):
        toolchain.build_trampoline()
    assert tree(xdg) == []


def test_cache_writable_by_others_is_refused_and_left_untouched(xdg):
    os.chmod(xdg, 0o777)
    with pytest.raises(CacheError, match=r"writable by group or others \(mode 0777\)"):
        image.build_image(lay_out(interrupt(0x12)))
    assert tree(xdg) == []


@needs_root
def test_planted_trampoline_under_a_shared_sticky_cache_is_refused(xdg, real_elf):
    """The exact case of the issue: /tmp-like shared XDG_CACHE_HOME, the key is predictable."""
    os.chmod(xdg, 0o1777)
    planted = xdg / "physcall" / "trampoline" / real_elf.parent.name / "trampoline.elf"
    planted.parent.mkdir(parents=True)
    shutil.copy(real_elf, planted)
    for path in [planted, *planted.parents][:4]:
        os.chown(path, NOBODY, NOBODY)
    with pytest.raises(CacheError, match="shared/physcall: it is owned by uid 65534"):
        image.build_image(lay_out(interrupt(0x12)))
    assert tree(xdg) == ["physcall", "physcall/trampoline", "physcall/trampoline/" + real_elf.parent.name,
                         "physcall/trampoline/%s/trampoline.elf" % real_elf.parent.name]


@needs_root
def test_planted_file_in_own_cache_is_refused(xdg, real_elf):
    planted = cache.cache_dir("trampoline", real_elf.parent.name) / "trampoline.elf"
    shutil.copy(real_elf, planted)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(CacheError, match="cached trampoline .*owned by uid 65534"):
        toolchain.build_trampoline()


@needs_root
def test_symlink_owned_by_another_user_is_refused(xdg, tmp_path):
    own = tmp_path / "own"
    own.mkdir(mode=0o700)
    os.symlink(own, xdg / "physcall")
    os.lchown(xdg / "physcall", NOBODY, NOBODY)
    with pytest.raises(CacheError, match="owned by uid 65534"):
        cache.cache_dir("trampoline")
    assert tree(own) == []


def test_override_obeys_the_same_rule(tmp_path, monkeypatch, real_elf):
    shared = tmp_path / "drop"
    shared.mkdir(mode=0o700)
    elf = shared / "trampoline.elf"
    shutil.copy(real_elf, elf)
    os.chmod(elf, 0o644)
    monkeypatch.setenv("PHYSCALL_TRAMPOLINE", str(elf))
    assert toolchain.build_trampoline() == elf                   # the user's own file: accepted
    os.chmod(shared, 0o777)
    with pytest.raises(CacheError, match="PHYSCALL_TRAMPOLINE override .*mode 0777"):
        toolchain.build_trampoline()
    os.chmod(shared, 0o700)
    os.chmod(elf, 0o666)
    with pytest.raises(CacheError, match="mode 0666"):
        toolchain.build_trampoline()
    if os.geteuid() == 0:
        os.chmod(elf, 0o644)
        os.chown(elf, NOBODY, NOBODY)
        with pytest.raises(CacheError, match="owned by uid 65534"):
            toolchain.build_trampoline()


def test_new_cache_directories_are_private(xdg):
    path = cache.cache_dir("logs")
    assert [oct(os.stat(p).st_mode & 0o777) for p in (path, path.parent)] == ["0o700", "0o700"]


def test_log_copy_replaces_a_planted_symlink_instead_of_writing_through_it(xdg, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    logs = cache.cache_dir("logs")
    os.symlink(victim, logs / "serial-last.log")
    src = tmp_path / "serial.log"
    src.write_bytes(b"console output")
    cache.copy_in(src, logs / "serial-last.log")
    assert victim.read_bytes() == b"precious"
    assert not os.path.islink(logs / "serial-last.log")
    assert (logs / "serial-last.log").read_bytes() == b"console output"


def test_cache_error_is_a_physcall_error():
    assert issubclass(CacheError, PhyscallError) and issubclass(CacheError, PermissionError)


def test_dry_run_needs_no_cache(tmp_path):
    """A dry run reads nothing from the cache and writes nothing there: an unusable one is no obstacle."""
    import subprocess
    import sys
    unusable = tmp_path / "unusable"
    unusable.mkdir(mode=0o777)
    os.chmod(unusable, 0o777)
    env = dict(os.environ, XDG_CACHE_HOME=str(unusable), HOME=str(unusable))
    env.pop("PHYSCALL_TRAMPOLINE", None)
    proc = subprocess.run([sys.executable, "-m", "physcall", "int", "0x12", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"eax": 639' in proc.stdout and tree(unusable) == []


@needs_root
def test_planted_shared_object_is_refused(xdg):
    """libphyscall.so (the TSC, the dry run's block counter) is loaded into the process: the same rule
    applies to it as to the trampoline beside it (physcall.hostlib loads it through built_file)."""
    built = toolchain.built_file("libphyscall.so")
    assert built.parent == toolchain.build_trampoline().parent
    os.chown(built, NOBODY, NOBODY)
    with pytest.raises(CacheError, match="cached libphyscall.so .*owned by uid 65534"):
        toolchain.built_file("libphyscall.so")
