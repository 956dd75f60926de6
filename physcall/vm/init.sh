#!/bin/busybox sh
# physcall guest /init (busybox, from the initramfs). Mounts the host's root file system read-only over
# virtio-9p at /host, puts proc/sys/devtmpfs/tmpfs on the places that must be live or writable, and
# runs the command agent with the host's own Python, chrooted, on the second 8250 port (ttyS1): the
# 8250 survives the device freeze/thaw of a kexec jump, virtio-serial would be frozen with the rest.
/bin/busybox mkdir -p /bin /proc /sys /dev /host /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

PY=python3; SHELL_MODE=0; MSIZE=512000
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        physcall.python=*) PY="${arg#*=}" ;;
        physcall.shell=1) SHELL_MODE=1 ;;
        physcall.msize=*) MSIZE="${arg#*=}" ;;
    esac
done

die() { echo "physcall-init: $*" >&2; echo "physcall-init: powering off" >&2; sleep 1; reboot -f; }

mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize="$MSIZE" hostroot /host \
    || die "cannot mount the host share (tag hostroot): is QEMU started with -fsdev/virtio-9p-pci?"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/shm
mount -t securityfs securityfs /host/sys/kernel/security 2>/dev/null
for d in /host/tmp /host/var/tmp /host/dev/shm; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
mount -t tmpfs -o mode=0755 tmpfs /host/run
ln -s /proc/self/fd /host/dev/fd 2>/dev/null
cp /agent.py /host/run/physcall-agent.py || die "cannot copy the agent to /host/run"

[ -x "/host$PY" ] || die "host python $PY not found under /host (physcall.python= on the kernel command line)"
AGENT="chroot /host $PY -I -S -u /run/physcall-agent.py /dev/ttyS1"  # -S: stdlib only, starts faster
echo "physcall-init: starting agent: $AGENT"
if [ "$SHELL_MODE" = 1 ]; then
    $AGENT &
    echo "physcall-init: shell on the console (host root read-only at /, writable /tmp); exit powers off"
    setsid cttyhack chroot /host /bin/sh -c 'cd /; PS1="physcall-guest# " exec /bin/sh -i'
    reboot -f
fi
$AGENT
die "agent exited with status $?"
