#!/bin/sh
# mmdebstrap --essential-hook: runs once the Essential packages are in ROOT ($1), before the kernel,
# raspi-firmware and the rest. Sets what the kernel and firmware hooks read at install time, and
# defers building the initramfs (minutes under emulation, else done twice) to customize.sh.
set -eu
root=$1
here=$(dirname "$0")
mkdir -p "$root/etc/default" "$root/etc/initramfs-tools/conf.d"
# raspi-firmware writes /boot/firmware/{config.txt,cmdline.txt} from this; inside a chroot its own
# guesses (root from findmnt, consoles from /dev, cma=64M, which can stop a Pi 4 booting) are wrong.
cp "$here/raspi-firmware.default" "$root/etc/default/raspi-firmware"
# The initramfs's fsck hook picks the root filesystem type from fstab.
cp "$here/../rootfs/etc/fstab" "$root/etc/fstab"
# Most drivers in the initramfs: the same image boots a Pi 3B+, a Pi 4 and qemu's virt machine.
echo 'MODULES=most' > "$root/etc/initramfs-tools/conf.d/dandelion.conf"
chroot "$root" dpkg-divert --local --rename --add /usr/sbin/update-initramfs
printf '#!/bin/sh\necho "update-initramfs: deferred by the Dandelion image build"\n' > "$root/usr/sbin/update-initramfs"
chmod 0755 "$root/usr/sbin/update-initramfs"
