"""The test machine against oracles it did not write: the guest kernel's boot log, /sys/firmware,
SeaBIOS's BDA/IVT through /dev/mem, and /proc for QEMU's life and death.

Run: ``python3 -m pytest tests/vm -m guest -q`` (the unmarked tests here are fast unit tests).
"""

import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from physcall.vm import GuestError, GuestTimeout, guest as guest_mod, initramfs, kernel

guest_test = pytest.mark.guest
E820 = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (.+)$", re.M)
MiB = 1 << 20


def parse_e820(text):
    """``[(start, end_exclusive, type)]`` from the kernel's ``BIOS-e820:`` boot lines."""
    return [(int(a, 16), int(b, 16) + 1, kind.strip()) for a, b, kind in E820.findall(text)]


def qemu_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- in the guest -------------------------------------------------------------------------------------

@guest_test
def test_import_physcall_from_this_checkout(guest):
    rc, out, err = guest.run([guest.python, "-c", "import physcall; print(physcall.__file__)"])
    assert rc == 0, err
    assert out.decode().strip() == os.path.join(guest_mod.CHECKOUT, "physcall", "__init__.py")
    # plain `python3` on the guest PATH is the host's interpreter, not Debian's /usr/bin/python3
    probe = "import os, sys; print(os.path.realpath(sys.executable))"
    assert guest.run(["python3", "-c", probe]).text.strip() == guest.python


@guest_test
def test_kernel_has_kexec_jump_and_firmware_views(guest):
    config = guest.run(["sh", "-c", "zcat /proc/config.gz"]).text
    assert "CONFIG_KEXEC_JUMP=y" in config and "CONFIG_DEVMEM=y" in config
    rc, _, err = guest.run(["test", "-e", "/sys/firmware/dmi/tables/smbios_entry_point"])
    assert rc == 0, err
    assert guest.run(["kexec", "--version"]).returncode == 0
    clock = guest.read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    if clock != b"tsc\n":
        # tsc=reliable keeps the TSC unless the kernel could not calibrate it at all, which happens
        # under TCG on a loaded host: then its log must say so (and physcall measures tsc_mhz itself).
        log = guest.dmesg()
        assert re.search(r"(?i)tsc.*(calibrat\w* fail|unstable|unable to calibrate)", log), (clock, log[-2000:])


@guest_test
def test_e820_boot_lines_are_a_sane_map(guest):
    ranges = parse_e820(guest.dmesg())
    assert ranges, "no BIOS-e820 lines in the guest's dmesg"
    assert all(a < b for a, b, _ in ranges)
    assert all(b <= c for (_, b, _), (c, _, _) in zip(ranges, ranges[1:])), "overlapping or unsorted"
    usable = [(a, b) for a, b, kind in ranges if kind == "usable"]
    assert usable[0][0] == 0 and usable[0][1] >= 600 * 1024, "no conventional memory at 0"
    assert any(a <= MiB < b for a, b in usable), "no usable RAM at 1 MiB"
    total = sum(b - a for a, b in usable)
    assert 250 * MiB < total <= 256 * MiB, "usable RAM %d KiB for -m 256M" % (total // 1024)
    # second oracle: the kernel's /sys/firmware/memmap copy of the same firmware table
    memmap = guest.run(["sh", "-c", "cd /sys/firmware/memmap && for d in *; do "
                        "echo $(cat $d/start) $(cat $d/end) $(cat $d/type); done"]).text
    starts = {int(line.split()[0], 16) for line in memmap.splitlines()}
    assert {a for a, _, _ in ranges} == starts


@guest_test
def test_bda_and_ivt_through_dev_mem(guest):
    rc, page, err = guest.run(["dd", "if=/dev/mem", "bs=4096", "count=1", "status=none"])
    assert rc == 0, err
    assert len(page) == 4096
    (base_kib,) = struct.unpack_from("<H", page, 0x413)
    assert base_kib == 639, "BDA[413h] base memory = %d KiB" % base_kib
    off, seg = struct.unpack_from("<HH", page, 0x12 * 4)
    assert 0xF0000 <= seg * 16 + off <= 0xFFFFF, "IVT[12h] = %04x:%04x, not in the F-segment" % (seg, off)
    # and it agrees with the first e820 range (conventional memory ends where the EBDA begins)
    first = parse_e820(guest.dmesg())[0]
    assert first[1] == base_kib * 1024


@guest_test
def test_first_mib_of_dev_mem_is_readable(guest):
    script = "dd if=/dev/mem bs=4096 count=256 status=none | wc -c; dd if=/dev/mem bs=1 skip=$((0xffff0)) count=1 status=none"
    rc, out, err = guest.run(["sh", "-c", script])
    assert rc == 0, err
    count, reset = out.split(b"\n", 1)
    assert int(count) == 1 << 20
    assert reset == b"\xea", "the reset vector at ffff0 is not a far jmp (SeaBIOS ROM not visible)"


@guest_test
def test_three_commands_and_exit_codes(guest):
    assert guest.run(["true"]) == (0, b"", b"")
    assert guest.run(["sh", "-c", "exit 7"]).returncode == 7
    rc, out, err = guest.run(["sh", "-c", "cat; echo oops >&2"], input=b"\x00\xffbinary")
    assert (rc, out, err) == (0, b"\x00\xffbinary", b"oops\n")
    assert guest.run(["/nonexistent"]).returncode == 127


@guest_test
def test_channel_survives_device_freeze_and_thaw(vm_setup):
    """The 8250 channel across dpm freeze + syscore suspend/resume (hibernation with pm_test=core):
    the device path a preserve-context kexec jump takes (kernel/kexec_core.c, kernel_kexec).
    A guest of its own with 512 MiB: hibernation preallocates an image as large as what is in use,
    and the RAM-resident payload (~90 MB) made that fail now and then with ENOMEM in 256 MiB."""
    from physcall.vm import Guest
    script = "echo core > /sys/power/pm_test && echo disk > /sys/power/state; echo rc=$?"
    with Guest(memory="512M") as guest:
        for _ in range(2):
            rc, out, err = guest.run(["sh", "-c", script], timeout=60)
            assert out == b"rc=0\n", err
            assert guest.run(["sh", "-c", "cat"], input=b"x" * 3000).stdout == b"x" * 3000
        log = guest.dmesg()
    assert "Freezing user space processes" in log and "Restarting tasks" in log


@guest_test
def test_command_timeout_kills_the_command_not_the_guest(guest):
    with pytest.raises(GuestTimeout):
        guest.run(["sleep", "1000"], timeout=1)
    assert guest.run(["echo", "still here"]).text == "still here\n"


# -- whole guests: hangs and deaths ------------------------------------------------------------------

@guest_test
def test_hung_agent_times_out_and_leaves_no_qemu(vm_setup):
    from physcall.vm import Guest
    g = Guest()
    pid = g.proc.pid
    g.grace = 2.0
    start = time.monotonic()
    with pytest.raises(GuestTimeout, match="QEMU was killed"):
        g.run(["sh", "-c", "kill -STOP $PPID"], timeout=1)  # freezes the agent itself
    assert time.monotonic() - start < 15
    assert not qemu_alive(pid)
    with pytest.raises(GuestError):
        g.run(["true"])
    assert "Linux version 6.12" in g.dmesg()  # post-mortem: the kept serial log
    g.close()
    assert not os.path.exists(g.tmpdir)       # the private dir (and its ~90 MB initrd) is gone


@guest_test
def test_killed_owner_takes_qemu_with_it(vm_setup, tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from physcall.vm import Guest
        g = Guest()
        print(g.proc.pid, g.tmpdir, flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=guest_mod.CHECKOUT))
    try:
        pid, tmpdir = owner.stdout.readline().split()
        pid = int(pid)
        assert qemu_alive(pid)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 10
    while qemu_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not qemu_alive(pid)
    guest_mod._sweep_stale()                 # what the next Guest() does first
    assert not os.path.exists(tmpdir)


@guest_test
def test_cli_run_passes_exit_code_and_output_through(vm_setup):
    proc = subprocess.run([sys.executable, "-m", "physcall.vm", "run", "--timeout", "30", "--",
                           "sh", "-c", "echo out; echo err >&2; exit 7"], capture_output=True,
                          env=dict(os.environ, PYTHONPATH=guest_mod.CHECKOUT), timeout=180)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, b"out\n", b"err\n")


@guest_test
def test_second_setup_is_cached_and_fast(vm_setup):
    import physcall.vm
    again = physcall.vm.setup()
    assert again["bzImage"] == vm_setup["bzImage"]
    assert again["seconds"] < 10
    assert again["kernel_release"].startswith("6.12.")


# -- unit level (fast suite) -------------------------------------------------------------------------

def test_kernel_cache_key_follows_the_fragment():
    text = kernel.FRAGMENT.read_text()
    assert kernel.cache_key("6.12.117-1") == kernel.cache_key("6.12.117-1", text)
    assert kernel.cache_key("6.12.117-1", text + "CONFIG_X=y\n") != kernel.cache_key("6.12.117-1", text)
    assert kernel.cache_key("6.12.118-1", text) != kernel.cache_key("6.12.117-1", text)


def test_initramfs_cache_key_follows_its_inputs():
    files = initramfs.inputs()
    changed = dict(files, **{"agent.py": (0o644, files["agent.py"][1] + b"#\n")})
    assert initramfs.cache_key(files) == initramfs.cache_key(initramfs.inputs())
    assert initramfs.cache_key(changed) != initramfs.cache_key(files)


def test_check_config_catches_dropped_and_unwanted_options():
    fragment = "CONFIG_KEXEC_JUMP=y\n# CONFIG_INET is not set\nCONFIG_PCI=y\n"
    config = "CONFIG_PCI=y\nCONFIG_INET=y\n"
    assert kernel.check_config(config, fragment) == ["CONFIG_KEXEC_JUMP=y", "# CONFIG_INET is not set"]
    assert kernel.check_config("CONFIG_KEXEC_JUMP=y\nCONFIG_PCI=y\n", fragment) == []


def test_fragment_has_the_jump_and_no_smp():
    lines = kernel.FRAGMENT.read_text().splitlines()
    assert "CONFIG_KEXEC_JUMP=y" in lines and "# CONFIG_SMP is not set" in lines


def test_qemu_argv_is_pc_seabios_without_network_or_virtio(tmp_path):
    argv = guest_mod.qemu_argv("bz", "rd", str(tmp_path))
    line = " ".join(argv)
    assert "-machine pc " in line and "-nic none" in line and "-no-reboot" in line
    assert "-bios" not in line  # QEMU's default pc firmware is SeaBIOS
    assert "virtio" not in line and "-fsdev" not in line  # virtio devices die at a kexec jump
    assert "physcall.python=%s" % guest_mod.host_python() in line


def test_qemu_argv_sizes_tcgs_translation_buffer_and_leaves_kvm_alone(tmp_path):
    def accel(kind):
        argv = guest_mod.qemu_argv("bz", "rd", str(tmp_path), accel=kind)
        return argv[argv.index("-accel") + 1]
    assert accel("tcg") == "tcg,tb-size=%d" % guest_mod.TCG_TB_SIZE_MB
    assert accel("kvm") == "kvm"           # tb-size is TCG's: KVM would refuse the option


def test_accel_choices():
    assert guest_mod.resolve_accel("auto") == "tcg"
    with pytest.raises(GuestError, match="choose auto, tcg or kvm"):
        guest_mod.resolve_accel("hvf")


def test_payload_has_python_tools_libraries_and_checkout():
    from physcall.vm import payload
    files, links = payload.collect()
    assert guest_mod.host_python() in files
    assert {"/usr/sbin/kexec", "/usr/sbin/hwinfo", "/usr/sbin/vbetool"} <= files
    assert os.path.join(guest_mod.CHECKOUT, "physcall", "__init__.py") in files
    assert any(f.endswith("/libc.so.6") for f in files) and links.get("/lib") == "usr/lib"
    assert not any("/test/" in f or f.endswith(".a") for f in files)


def test_ci_deps_list_the_packages_setup_checks():
    from physcall.vm import host
    listed = (pathlib.Path(guest_mod.CHECKOUT) / ".ci" / "vm-deps.txt").read_text().split()
    assert sorted(listed) == sorted(set(host.REQUIRED) | set(host.BUILD_REQUIRED))


def test_missing_packages_give_one_error_with_the_install_command(monkeypatch):
    from physcall.vm import SetupError, host
    monkeypatch.setitem(host.REQUIRED, "no-such-package", "/nonexistent/physcall-probe")
    with pytest.raises(SetupError, match=r"apt-get install -y no-such-package"):
        host.require_packages()
