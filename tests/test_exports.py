"""The public surface is pinned: a change here is a change to the API (trio's test_exports idea)."""

import physcall

PUBLIC = {
    "AssemblyError", "Assembly", "BACKENDS", "BackendError", "Buffer", "Call", "CallError",
    "ConfirmationRequired", "FarCall", "InputError", "Interrupt", "LayoutError", "Layout", "ModelError",
    "OptionError", "Outcome", "PhyscallError", "Placed", "PreflightError", "Regs", "Result", "Routine", "UnknownBackend",
    "UsageError", "VerificationError", "__version__", "asm", "far_call", "interrupt", "invoke", "lay_out",
}


def test_public_surface():
    assert set(physcall.__all__) == PUBLIC
    assert all(hasattr(physcall, name) for name in PUBLIC)


def test_errors_share_one_root():
    for name in PUBLIC:
        obj = getattr(physcall, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, physcall.PhyscallError)


def test_result_is_the_one_outcome_type():
    assert physcall.Result is physcall.Outcome
    assert type(physcall.invoke(physcall.interrupt(0x12))) is physcall.Outcome
