#!/usr/bin/env bash
# Builds the Raspberry Pi image's root filesystem from Debian 12 arm64 packages with mmdebstrap, as a
# tarball cached under build/image-cache/ by a hash of the package list and the hooks (about 10 minutes
# under qemu-user; the next run with the same inputs takes none). Prints the tarball's path last.
# Root only: mmdebstrap --mode=root, and qemu-user through binfmt_misc (mounted and enabled here).
set -euo pipefail
cd "$(dirname "$0")/../.."
fw=firmware-image
cache=build/image-cache

[ "$(id -u)" -eq 0 ] || { echo "build-rootfs: run as root (mmdebstrap --mode=root)" >&2; exit 1; }

# Foreign (arm64) binaries must run through qemu-user for the packages' maintainer scripts.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
if ! arch-test arm64 >/dev/null 2>&1; then
  echo "build-rootfs: this machine cannot run arm64 binaries ('arch-test arm64' fails)." >&2
  echo "  Needs qemu-user-static and binfmt-support, binfmt_misc mounted at /proc/sys/fs/binfmt_misc" >&2
  echo "  (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) and 'update-binfmts --enable qemu-aarch64'." >&2
  exit 1
fi

key=$(cat "$fw/packages.txt" "$fw/hooks/"* "$fw/rootfs/etc/fstab" "$0" | sha256sum | cut -c1-16)
tarball="$cache/rootfs-$key.tar"
if [ -f "$tarball" ]; then
  echo "build-rootfs: cached $tarball" >&2
  echo "$tarball"
  exit 0
fi
mkdir -p "$cache"
# A failed or interrupted build leaves no partial tarball behind.
trap 'rm -f "$tarball.part"' EXIT
packages=$(grep -v -E '^\s*(#|$)' "$fw/packages.txt" | paste -sd, -)
components="main non-free-firmware"
# Its own sources: raspi-firmware and firmware-brcm80211 are in non-free-firmware, which a build
# machine's sources often lack. They stay in the image's /etc/apt/sources.list.
start=$(date +%s)
# force-confold: keep the essential hook's /etc/default/raspi-firmware (dpkg would ask, and fail).
mmdebstrap --mode=root --architectures=arm64 --variant=minbase \
  --dpkgopt=force-confdef --dpkgopt=force-confold \
  --include="$packages" \
  --essential-hook="$PWD/$fw/hooks/essential.sh \"\$1\"" \
  --customize-hook="$PWD/$fw/hooks/customize.sh \"\$1\"" \
  --format=tar bookworm "$tarball.part" \
  "deb http://deb.debian.org/debian bookworm $components" \
  "deb http://deb.debian.org/debian bookworm-updates $components" \
  "deb http://deb.debian.org/debian-security bookworm-security $components" >&2
mv "$tarball.part" "$tarball"
echo "build-rootfs: built $tarball in $(( $(date +%s) - start )) s" >&2
echo "$tarball"
