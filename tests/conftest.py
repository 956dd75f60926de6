"""Fixtures shared by the fast tests."""

import gzip
import os

import pytest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="session")
def seabios_snapshot(tmp_path_factory):
    """Path of a real snapshot: `physcall vm snapshot` of physcall's QEMU guest (SeaBIOS 1.16, 256 MiB,
    Linux 6.12 running), kept gzip'ed in tests/data."""
    path = tmp_path_factory.mktemp("snap") / "seabios-qemu-256M.elf"
    with gzip.open(os.path.join(DATA, "seabios-qemu-256M.elf.gz")) as src:
        path.write_bytes(src.read())
    return str(path)
