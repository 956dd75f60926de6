"""One guest for the whole session: booting under TCG costs seconds, a command costs milliseconds."""

import logging

import pytest


@pytest.fixture(scope="session")
def vm_setup():
    """The artifacts of ``physcall vm setup`` (built on first use, minutes; cached afterwards)."""
    import physcall.vm
    return physcall.vm.setup(progress=logging.getLogger("physcall.vm").warning)


@pytest.fixture(scope="session")
def guest(vm_setup):
    from physcall.vm import Guest
    with Guest(memory="256M") as g:
        yield g
