#!/usr/bin/env bash
# Builds the docker base image that deploy/Dockerfile.* start FROM, with no image registry (docs/deploy.md):
# Debian (minbase and deploy/base-image.json's packages) by mmdebstrap, the pinned stock Node that
# `make binaries` uses (scripts/binaries/build.mjs --base-node: npm pack, integrity and SHA-256 checked,
# stripped) and a pinned npm from the npm registry, streamed into `docker import`. The image carries a
# hash of its inputs as a label: when an image with the same label exists nothing is built.
# Needs root (mmdebstrap --mode=root), mmdebstrap, binutils, and DOCKER_HOST (or /var/run/docker.sock).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Debian's docker CLI, whatever else is on PATH.
export PATH="/usr/sbin:/usr/bin:$PATH"
spec=deploy/base-image.json
field() { node -e "const s = require('./$spec'); process.stdout.write(String($1))"; }
tag=$(field s.tag)
# This machine's own certificate authorities (a TLS-inspecting proxy's, a company's): the image trusts
# them too, or npm ci inside the build could not reach the registry that npm on this machine reaches.
local_cas=(/usr/local/share/ca-certificates/*.crt)
[ -e "${local_cas[0]}" ] || local_cas=()
key=$(cat "$spec" binaries/base-nodes.json "$0" ${local_cas[@]+"${local_cas[@]}"} | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "dandelion.base-key"}}' "$tag" 2>/dev/null)" = "$key" ]; then
  echo "base-image: $tag is up to date ($key)"
  exit 0
fi
start=$(date +%s)
work=build/compose/base
rm -rf "$work"
mkdir -p "$work"

node_bin=$(node scripts/binaries/build.mjs --base-node "$(field s.node)" | tail -n 1)
npm_version=$(field s.npm.version)
npm_integrity=$(field s.npm.integrity)
npm pack "npm@$npm_version" --prefer-offline --pack-destination "$work" --silent >/dev/null
npm_tgz="$work/npm-$npm_version.tgz"
# npm checks the registry's own integrity; this pins the bytes against a registry that changed.
got=$(node -e "process.stdout.write('sha512-' + require('node:crypto').createHash('sha512').update(require('node:fs').readFileSync(process.argv[1])).digest('base64'))" "$npm_tgz")
if [ "$got" != "$npm_integrity" ]; then
  echo "base-image: npm@$npm_version tarball integrity $got is not the pinned $npm_integrity" >&2
  exit 1
fi

suite=$(field s.suite)
packages=$(field "s.packages.join(',')")
# Node and npm go to /usr/local (Debian 12's own nodejs is 18); docs, man pages and locales are left out.
# Node reads the system's certificate store (NODE_EXTRA_CA_CERTS), so it trusts what apt and curl do.
# force-unsafe-io: no fsync per unpacked file (a crash loses only this build, which starts over).
mmdebstrap --mode=root --variant=minbase --include="$packages" --dpkgopt=force-unsafe-io \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="install -m 755 '$node_bin' \"\$1/usr/local/bin/node\"" \
  --customize-hook="mkdir -p \"\$1/usr/local/lib/npm\" && tar -xzf '$PWD/$npm_tgz' -C \"\$1/usr/local/lib/npm\" --strip-components=1 --no-same-owner" \
  --customize-hook="ln -s ../lib/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" && ln -s ../lib/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
  --customize-hook="if [ -n '${local_cas[*]}' ]; then cp ${local_cas[*]} \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates >/dev/null; fi" \
  --format=tar "$suite" - \
  "deb http://deb.debian.org/debian $suite main" \
  "deb http://deb.debian.org/debian $suite-updates main" \
  "deb http://deb.debian.org/debian-security $suite-security main" 2>"$work/mmdebstrap.log" \
  | docker import --change "LABEL dandelion.base-key=$key" --change 'CMD ["/bin/bash"]' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - >"$work/image-id" \
  || { tail -n 40 "$work/mmdebstrap.log" >&2; echo "base-image: building $tag failed" >&2; exit 1; }
# Tagged only once whole: a failed or cut-short build never passes for the cached image.
docker tag "$(cat "$work/image-id")" "$tag"
rm -f "$npm_tgz"
echo "base-image: built $tag ($key) in $(( $(date +%s) - start )) s"
