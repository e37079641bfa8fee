#!/usr/bin/env bash
# `make image`: the Raspberry Pi SD image dist/dandelion-rpi-arm64.img.xz (Pi 3B+/4, 64-bit) and its
# manifest, from the cached Debian rootfs (scripts/image/build-rootfs.sh), firmware-image/ and the
# agent binary. No loop mounts: each partition is made as a file (mkfs.fat + mcopy, mke2fs -d) and
# copied into a plain image file partitioned with sfdisk. docs/image.md describes the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (file ownership inside the image)" >&2; exit 1; }

fw=firmware-image
agent=dist/dandelion-agent-linux-arm64
out=dist/dandelion-rpi-arm64.img
work=build/image
[ -f "$agent" ] || { echo "build-image: $agent is missing: run 'make binaries'" >&2; exit 1; }

# Layout (MiB, all aligned to 4 MiB). The disk identifier is fixed: PARTUUID=dde1a9e0-01 … -03 in
# cmdline.txt and fstab.
DISK_ID=0xdde1a9e0
BOOT_START_MB=4
BOOT_MB=256
DATA_MB=${DATA_MB:-128}
DANDELION_UID=800   # fixed: fstab's gid= of the boot partition and the data partition's files
ROOT_UUID=9a1f0c2e-5d0b-4c7e-9f1a-d4e1a9e00002
DATA_UUID=9a1f0c2e-5d0b-4c7e-9f1a-d4e1a9e00003

t0=$(date +%s)
tarball=$(scripts/image/build-rootfs.sh | tail -n 1)
t1=$(date +%s)

rm -rf "$work"
mkdir -p "$work/rootfs" "$work/boot" "$work/data" dist
root=$work/rootfs
tar --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball" -C "$root"

# --- The Dandelion layer ---------------------------------------------------------------------------
(cd "$fw/rootfs" && find . -type d -exec install -d -m 0755 "../../$root/{}" \; \
  && find . -type f -exec sh -c 'install -m "$(stat -c %a "$1")" "$1" "../../$2/$1"' _ {} "$root" \;)
install -m 0755 "$agent" "$root/usr/lib/dandelion/dandelion"
install -m 0755 "$fw/dandelion-agent-run" "$root/usr/lib/dandelion/dandelion-agent-run"
install -m 0644 "$fw/dandelion-agent.service" "$root/etc/systemd/system/dandelion-agent.service"

chroot "$root" groupadd --system --gid "$DANDELION_UID" dandelion
chroot "$root" useradd --system --uid "$DANDELION_UID" --gid dandelion --home-dir /var/lib/dandelion \
  --no-create-home --shell /usr/sbin/nologin dandelion
chroot "$root" usermod --lock root
id_of() { chroot "$root" id "$1" "$2"; }
sed -i -e "s/@DANDELION_GID@/$DANDELION_UID/" -e "s/@CHRONY_UID@/$(id_of -u _chrony)/" \
  -e "s/@CHRONY_GID@/$(id_of -g _chrony)/" "$root/etc/fstab"
! grep -q '@[A-Z_]*@' "$root/etc/fstab"

# Services: the agent starts its own nginx (as dandelion); SSH only when provisioned (dandelion-boot);
# nothing that writes to the read-only root (apt's timers, the dpkg database backup, random-seed).
chroot "$root" systemctl enable systemd-networkd systemd-resolved chrony redis-server \
  dandelion-machine-id dandelion-grow-data dandelion-boot dandelion-clock dandelion-agent
chroot "$root" systemctl disable nginx ssh wpa_supplicant
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
  e2scrub_all.timer e2scrub_reap.service systemd-random-seed.service systemd-firstboot.service
# Mount points: the root is read-only, so systemd cannot make them at boot.
install -d -m 0755 "$root/var/lib/dandelion" "$root/var/lib/redis" "$root/var/lib/chrony" "$root/var/lib/nginx" "$root/boot/firmware"
# systemd-logind's StateDirectory: it fails to start when it has to make this on a read-only root.
install -d -m 0755 "$root/var/lib/systemd/linger"
ln -sf /run/dandelion/wpa_supplicant-wlan0.conf "$root/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# Nothing secret, nothing per-box: SSH host keys and the machine-id are made on the box at first boot.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*

# The manifest: every package with its version, the agent binary's SHA-256, the build's inputs.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && commit="$commit-dirty"
{
  echo "# Dandelion Raspberry Pi image (arm64), built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit $commit"
  echo "rootfs $(basename "$tarball")"
  echo "agent $(sha256sum "$agent" | cut -d' ' -f1)  /usr/lib/dandelion/dandelion"
  echo "kernel $(ls "$root/lib/modules")"
  echo "# packages (dpkg-query: name version architecture)"
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n' | sort
} > "$work/manifest"
install -m 0644 "$work/manifest" "$root/usr/lib/dandelion/manifest"

# --- Boot partition (FAT): firmware, kernel, initrd, device trees, config.txt, cmdline.txt ---------
cp -a "$root/boot/firmware/." "$work/boot/"
rm -rf "$root/boot/firmware"/*
echo "console=tty0 console=ttyS1,115200 root=PARTUUID=${DISK_ID#0x}-02 ro rootfstype=ext4 fsck.repair=yes net.ifnames=0 rootwait" \
  > "$work/boot/cmdline.txt"
install -m 0644 "$fw/dandelion.yaml.example" "$work/boot/dandelion.yaml.example"
ls "$work/boot"/vmlinuz-* "$work/boot"/initrd.img-* "$work/boot"/bcm2711-rpi-4-b.dtb "$work/boot"/bcm2837-rpi-3-b-plus.dtb >/dev/null
rm -f "$work/boot.vfat"
mkfs.fat -F 32 -n RASPIFIRM -i "${DISK_ID#0x}" -C "$work/boot.vfat" $(( BOOT_MB * 1024 )) >/dev/null
mcopy -i "$work/boot.vfat" -s -p -m "$work/boot"/* ::

# --- Root partition (ext4, mounted read-only) --------------------------------------------------------
root_kb=$(du -sk --apparent-size "$root" | cut -f1)
ROOT_MB=$(( (root_kb * 12 / 10 / 1024 + 128 + 3) / 4 * 4 ))
mke2fs -q -F -t ext4 -L dandelion-root -U "$ROOT_UUID" -E root_owner=0:0 -d "$root" "$work/root.ext4" "${ROOT_MB}M"

# --- Data partition (ext4, grown on first boot): folders the box writes ------------------------------
install -d -m 0755 "$work/data"
install -d -m 0755 -o "$DANDELION_UID" -g "$DANDELION_UID" "$work/data/files"
install -d -m 0750 -o "$DANDELION_UID" -g "$DANDELION_UID" "$work/data/agent"
install -d -m 0750 -o "$(id_of -u redis)" -g "$(id_of -g redis)" "$work/data/redis"
install -d -m 0700 "$work/data/ssh"
# 4 KiB blocks and the "default" usage type although it starts small (mke2fs would pick 1 KiB blocks),
# and room in the group descriptor reserve for online growth to 1 TiB.
mke2fs -q -F -t ext4 -T default -b 4096 -E root_owner=0:0,resize=268435456 -L dandelion-data -U "$DATA_UUID" \
  -d "$work/data" "$work/data.ext4" "${DATA_MB}M"

# --- The image ---------------------------------------------------------------------------------------
root_start=$(( BOOT_START_MB + BOOT_MB ))
data_start=$(( root_start + ROOT_MB ))
total=$(( data_start + DATA_MB ))
rm -f "$out" "$out.xz"
truncate -s "${total}M" "$out"
sfdisk --quiet "$out" <<SFDISK
label: dos
label-id: $DISK_ID
unit: sectors
start=$(( BOOT_START_MB * 2048 )), size=$(( BOOT_MB * 2048 )), type=c, bootable
start=$(( root_start * 2048 )), size=$(( ROOT_MB * 2048 )), type=83
start=$(( data_start * 2048 )), size=$(( DATA_MB * 2048 )), type=83
SFDISK
dd if="$work/boot.vfat" of="$out" bs=1M seek="$BOOT_START_MB" conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$out" bs=1M seek="$root_start" conv=notrunc,sparse status=none
dd if="$work/data.ext4" of="$out" bs=1M seek="$data_start" conv=notrunc,sparse status=none
t2=$(date +%s)
cp "$work/manifest" "$out.manifest"
# IMAGE_XZ=0 skips compressing (minutes), for trying changes with the image test.
[ "${IMAGE_XZ:-1}" = 0 ] || xz -T0 -3 -f -k "$out"
t3=$(date +%s)
[ ! -f "$out.xz" ] || echo "build-image: $out.xz ($(du -m "$out.xz" | cut -f1) MiB)"
echo "build-image: $out ($total MiB: boot $BOOT_MB, root $ROOT_MB, data $DATA_MB)"
echo "build-image: rootfs $(( t1 - t0 )) s, image $(( t2 - t1 )) s, xz $(( t3 - t2 )) s"
