#!/usr/bin/env bash
# Set physcall up on a fresh Debian 12 machine (as root) and run one of its jobs.
#
#   bash bootstrap.sh demo    # a real BIOS call (int 12h) in the QEMU guest physcall boots
#   bash bootstrap.sh test    # the whole test suite, guest tests included (what CI runs)
#   bash bootstrap.sh setup   # only install and build
#
# Installs Debian's packages, makes .venv with physcall and its test extra, builds the guest kernel
# and initramfs (cached under ~/.cache/physcall/, keyed by what built them), then runs the job.
set -euo pipefail
cd "$(dirname "$0")"
job=${1:-demo}
case "$job" in demo|test|setup) ;; *) echo "usage: bash bootstrap.sh demo|test|setup" >&2; exit 2;; esac

APT_PACKAGES=(
  python3 python3-venv python3-pip python3-dev gcc make cmake binutils    # physcall, its wheels, the trampoline
  qemu-system-x86 qemu-utils busybox-static                               # the guest: QEMU + SeaBIOS, initramfs
  bc bison flex libelf-dev libssl-dev cpio xz-utils zstd dwarves          # building the guest kernel
  kexec-tools vbetool hwinfo                                              # oracles (and tools the guest runs)
)
if [ -f .ci/vm-deps.txt ]; then read -r -a more < .ci/vm-deps.txt; APT_PACKAGES+=("${more[@]}"); fi

step() { printf '\n== %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  step "python venv .venv ($($PY --version))"
  $PY -m venv .venv
fi
step "pip install -e .[test]"
.venv/bin/python -m pip install -q -e '.[test]'

step "guest kernel and initramfs (cached after the first build)"
.venv/bin/physcall vm setup

case "$job" in
  demo)  step "physcall int 0x12 --backend vm"
         exec .venv/bin/physcall int 0x12 --backend vm ;;
  test)  step "pytest (fast tests and guest tests)"
         exec .venv/bin/python -m pytest -q ;;
esac
