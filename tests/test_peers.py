"""bench/peers.py: qiling stays out of physcall's venv, and the bench says how to get it."""

import pathlib
import shutil
import subprocess

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))        # a cache with no peer venv in it
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_emulator
    return bench_emulator


def test_without_the_peer_venv_the_bench_names_the_command(bench, tmp_path):
    cost, why = bench.bench_int1a_qiling()
    assert cost is None
    assert why == ("qiling not measured: no peer venv at %s; create it with: "
                   ".venv/bin/python bench/peers.py setup" % (tmp_path / "physcall" / "peers" / "qiling-1.4.6"))


def test_qiling_is_no_dependency():
    text = (BENCH.parent / "pyproject.toml").read_text()
    assert "qiling" not in text.lower()


@pytest.mark.skipif(not shutil.which("python3"), reason="no python3 on PATH")
def test_the_peer_side_runs_without_physcall():
    """The peer venv has no physcall: peers.py must start with the standard library alone (-I: no
    PYTHONPATH, no user site; the interpreter outside physcall's venv)."""
    python = "/usr/bin/python3" if pathlib.Path("/usr/bin/python3").exists() else shutil.which("python3")
    proc = subprocess.run([python, "-I", str(BENCH / "peers.py")], capture_output=True, text=True)
    assert proc.returncode == 2 and "peers.py setup" in proc.stderr, proc.stderr
