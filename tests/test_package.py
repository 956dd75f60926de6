"""physcall as a new user gets it: the wheel, installed into a fresh venv, used from outside the checkout.

The fresh venv borrows only the dependencies (unicorn, keystone, ...) from this test's environment, via a
.pth line, so that the test runs offline; physcall itself comes from the wheel alone (the checkout is not
on the path: the test checks ``physcall.__file__``).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from physcall import resources

pytestmark = [pytest.mark.package,
              pytest.mark.skipif(resources.CHECKOUT is None, reason="runs from a checkout only")]
JUNK = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".hypothesis", "*.elf", "*.o")


def run(argv, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PHYSCALL_TRAMPOLINE")}
    env.update(kw.pop("env", {}))
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=300, **kw)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (argv, proc.stdout[-2000:], proc.stderr[-4000:])
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the checkout (the build writes build/ and *.egg-info)."""
    src = tmp_path_factory.mktemp("src") / "physcall"
    shutil.copytree(resources.CHECKOUT, src, ignore=JUNK)
    dist = src.parent / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src])
    return next(dist.glob("physcall-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    root = tmp_path_factory.mktemp("venv")
    run([sys._base_executable, "-m", "venv", "--without-pip", root])
    site = run([root / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    with open(os.path.join(site.strip(), "physcall-test-deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", root / "bin" / "python", "install", "-q", "--no-deps",
         "--no-index", wheel])
    return root


def test_wheel_carries_csrc_and_stubs_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "physcall/_data/csrc/physcall.h" in names and "physcall/_data/csrc/trampoline.S" in names
    assert "physcall/_data/stubs/int12.asm" in names
    assert not [n for n in names if n.split("/")[0] in ("csrc", "stubs", "tests", "examples")]


def test_installed_cli_and_import_work_from_another_directory(venv, tmp_path):
    out = json.loads(run([venv / "bin" / "physcall", "int", "0x12", "--json"], cwd=tmp_path))
    assert out["results"][0]["regs"]["eax"] == 639
    code = ("import physcall, physcall.abi, physcall.resources as r; "
            "print(physcall.__file__, r.CSRC, r.CHECKOUT, physcall.invoke(physcall.interrupt(0x11)).regs.ax)")
    where, csrc, checkout, equipment = run([venv / "bin" / "python", "-c", code], cwd=tmp_path).split()
    assert where.startswith(str(venv)) and csrc.startswith(str(venv)) and csrc.endswith("physcall/_data/csrc")
    assert checkout == "None" and int(equipment) > 0


def test_installed_package_builds_its_trampoline_into_a_private_cache(venv, tmp_path):
    cache = tmp_path / "cache"
    code = "import physcall.toolchain as t; t.built_file(\"libphyscall.so\"); print(t.build_trampoline())"
    elf = run([venv / "bin" / "python", "-c", code], cwd=tmp_path, env={"XDG_CACHE_HOME": str(cache)}).strip()
    assert elf.startswith(str(cache / "physcall" / "trampoline")) and os.path.getsize(elf) > 0
    assert os.stat(cache / "physcall").st_mode & 0o777 == 0o700
