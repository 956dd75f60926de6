#!/bin/busybox sh
# physcall guest /init (busybox). The root file system is the initramfs itself: busybox + the agent,
# followed by the payload of host files (python, site-packages, tools, libraries, the checkout) at
# their host paths. No virtio device is used, so nothing breaks when a kexec jump freezes and restores
# the devices (virtio-9p does not survive that). Commands come over the second 8250 port (ttyS1).
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/tmp /root
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/shm
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
ln -s /proc/self/fd /dev/fd 2>/dev/null
chmod 1777 /tmp /var/tmp

PY=python3; SHELL_MODE=0
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        physcall.python=*) PY="${arg#*=}" ;;
        physcall.shell=1) SHELL_MODE=1 ;;
        physcall.checkout=*) CHECKOUT="${arg#*=}" ;;
    esac
done

die() { echo "physcall-init: $*" >&2; echo "physcall-init: rebooting (QEMU -no-reboot exits)" >&2; sleep 1; reboot -f; }

[ -x "$PY" ] || die "python $PY is not in the initramfs payload (physcall.python= on the kernel command line)"
AGENT="$PY -I -S -u /agent.py /dev/ttyS1"  # -S: the agent needs the stdlib only, starts faster
echo "physcall-init: starting agent: $AGENT"
if [ "$SHELL_MODE" = 1 ]; then
    $AGENT &
    echo "physcall-init: shell on the console (the host's python, tools and checkout are here); exit reboots"
    export PATH="${PY%/*}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/tmp
    export PYTHONPATH="$CHECKOUT"
    setsid cttyhack sh -c 'cd "${PYTHONPATH:-/}"; PS1="physcall-guest# " exec sh -i'
    reboot -f
fi
$AGENT
die "agent exited with status $?"
