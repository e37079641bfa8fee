#!/bin/sh
# mmdebstrap --customize-hook: every package is in ROOT ($1). Builds the initramfs once, which makes
# raspi-firmware's hook fill /boot/firmware (kernel, initrd, device trees, config.txt, cmdline.txt).
set -eu
root=$1
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --local --rename --remove /usr/sbin/update-initramfs
for version in $(ls "$root/lib/modules"); do
  chroot "$root" update-initramfs -c -k "$version"
done
ls -l "$root/boot/firmware"
test -f "$root/boot/firmware/config.txt"
