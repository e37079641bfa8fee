# Dandelion. `make demo` runs the network on this machine; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages the tests and the demo use (installed when missing): mtools, dosfstools and fdisk
# for provisioning SD images; wrk loads a box's nginx in the serving benchmark, which make test runs
# once in its smoke size; libnginx-mod-stream is the PROXY protocol test's TCP front (entrance/test/proxy-protocol/).
TEST_DEBS := redis-server nginx libnginx-mod-stream ffmpeg chromium mtools dosfstools fdisk wrk openssh-client
# Debian packages `make binaries` and its qemu test use: binutils to strip the base Nodes, qemu-user to
# run ARM code (the armv7 SEA blob, test/binary/) and the ARM C and C++ libraries that code loads.
BINARY_DEBS := binutils binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf qemu-user-static \
	libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross \
	libc6-armhf-cross libstdc++6-armhf-cross libgcc-s1-armhf-cross libatomic1-armhf-cross

# Debian packages of the home-network lab (docs/lab.md): routers with miniupnpd (UPnP IGD, NAT-PMP/PCP)
# and nftables, the UPnP and NAT-PMP clients the lab's tests map ports with, pebble as the ACME CA,
# certutil for the browser's test root, openssl and curl for pebble's API certificate and root; the
# end-to-end test (homes.test) also runs Redis, nginx, ffmpeg and Chromium, and household.test iperf3.
LAB_DEBS := iproute2 nftables miniupnpd-nftables miniupnpc natpmpc pebble libnss3-tools openssl curl redis-server nginx ffmpeg chromium iperf3

.PHONY: build test demo bench soak deps examples clean binaries image-deps rootfs image image-test lab-deps lab-test compose-deps compose-test release release-key bench-smoke fuzz-test FORCE

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.json
	node scripts/build-info.mjs

deps:
	scripts/ensure-debs.sh $(TEST_DEBS) $(BINARY_DEBS)

# The standalone box-agent binaries (docs/binaries.md): rebuilt when their sources, the pinned base
# Nodes or the commit they report change.
BINARY_INPUTS := $(shell find bin shared/src agent/src provisioning/src -name '*.ts') binaries/base-nodes.json \
	$(wildcard scripts/binaries/*) scripts/build-info.mjs package-lock.json release/release-keys.txt

binaries: dist/SHA256SUMS

dist/SHA256SUMS: node_modules/.package-lock.json $(BINARY_INPUTS) build/binaries/commit
	scripts/ensure-debs.sh $(BINARY_DEBS)
	node scripts/binaries/build.mjs

# Signed releases for updates over the air (docs/updates.md): each binary of `make binaries` and its
# manifest, signed with the operator's offline release key: make release RELEASE_KEY=/path/to/release.key
release: release-key build binaries
	@mkdir -p dist/release
	@v=$$(node -p "require('./package.json').version"); \
	for bin in dist/dandelion-agent-linux-*; do \
	  name=$$(basename $$bin); arch=$${name#dandelion-agent-linux-}; \
	  cp $$bin dist/release/$$name.tmp && mv dist/release/$$name.tmp dist/release/$$name && \
	  bin/dandelion release sign --key "$(RELEASE_KEY)" --binary dist/release/$$name --version $$v --arch $$arch $(RELEASE_ARGS) && \
	  bin/dandelion release verify --binary dist/release/$$name --release dist/release/$$name.release || exit 1; \
	done

# Checked before anything is built. The verify above also fails a key release/release-keys.txt does not
# list: boxes built from this checkout would refuse the release.
release-key:
	@[ -n "$(RELEASE_KEY)" ] || { echo "make release: give the private release key: make release RELEASE_KEY=/path/to/key (dandelion release keygen makes one)" >&2; exit 2; }

build/binaries/commit: FORCE
	@mkdir -p $(@D)
	@c="$$(git rev-parse --short=12 HEAD 2>/dev/null)$$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty)"; \
	  [ -f $@ ] && [ "$$(cat $@)" = "$$c" ] || echo "$$c" > $@

# The Raspberry Pi SD image (docs/image.md), as root: Debian 12 arm64 packages through mmdebstrap under
# qemu-user (the rootfs is cached in build/image-cache/), the agent binary, no loop mounts.
IMAGE_DEBS := mmdebstrap qemu-user-static binfmt-support arch-test mtools dosfstools fdisk e2fsprogs xz-utils
IMAGE_TEST_DEBS := redis-server qemu-system-arm openssh-client mtools fdisk socat

image-deps:
	scripts/ensure-debs.sh $(IMAGE_DEBS) $(IMAGE_TEST_DEBS)

# The Debian root filesystem alone (cached; the slow part of `make image`): .ci/run builds it while
# `make test` runs.
rootfs: image-deps
	scripts/image/build-rootfs.sh >/dev/null

image: binaries image-deps
	scripts/image/build-image.sh

# Boots the image under qemu-system-aarch64 against an entrance on this host (slow; not in `make test`).
image-test: build image
	scripts/test.sh --only build/test/image/*.test.js --jobs=1 --timeout=2400

lab-deps:
	scripts/ensure-debs.sh $(LAB_DEBS)

# The home-network lab, as root, sealed in its own network namespace (docs/lab.md; not part of `make test`).
# LAB_TESTS: only these compiled test files, e.g. `make lab-test LAB_TESTS=build/test/lab/household.test.js`.
# Root is checked before the build, so a user sees why at once (exit 2).
lab-test:
	@[ "$$(id -u)" -eq 0 ] || { echo "make lab-test needs root (network namespaces, veths, nftables): run it as root" >&2; exit 2; }
	$(MAKE) build
	LAB_DEBS="$(LAB_DEBS)" scripts/lab-test.sh $(LAB_TESTS)

# docker compose (docs/deploy.md): Debian's docker.io and docker-compose run the images, mmdebstrap builds
# their Debian base and binutils strips its Node (the binaries' pinned base Node); the boxes of the test run
# on the host with redis-server and nginx.
COMPOSE_DEBS := docker.io docker-compose mmdebstrap binutils redis-server nginx

compose-deps:
	scripts/ensure-debs.sh $(COMPOSE_DEBS)

# deploy/compose.yaml, deploy/compose.publisher.yaml and deploy/compose.cluster.yaml (three entrances, a
# Redis Cluster, the TLS front; one entrance killed) brought up, used and brought down, as root, with a
# dockerd of its own (not part of `make test`; built layers are kept in build/docker/).
compose-test:
	@[ "$$(id -u)" -eq 0 ] || { echo "make compose-test needs root (dockerd, mmdebstrap): run it as root" >&2; exit 2; }
	$(MAKE) build compose-deps
	scripts/compose/test.sh

test: build deps binaries
	scripts/test.sh build/test/binary build/test/firmware

demo: build deps
	bin/dandelion demo

bench: build deps binaries
	bin/dandelion bench

# Every benchmark once at smoke size (about 4 minutes): each yields real figures, none is judged. Run by
# .ci/run after `make test`, kept out of it for its length.
bench-smoke: build deps binaries
	scripts/test.sh --only build/bench/test/smoke.test.js

# The fuzz suite (test/fuzz/, docs/security.md): each role as its own process under hostile input for
# about three minutes, both cores busy. Run by .ci/run after `make test`, kept out of it for its length.
# Listed by its test files: the generators and harness beside them are modules, not tests.
fuzz-test: build deps
	scripts/test.sh --only $$(ls build/test/fuzz/*.test.js)

# Simulated boxes against three entrance processes for ten minutes (docs/scale.md, "Soak"; not part of
# `make test`). One socket per box: the open-file limit is raised first, as far as this machine lets it.
# SOAK_ARGS overrides the defaults, e.g. `make soak SOAK_ARGS="--boxes 20000 --minutes 2"`.
soak: build deps
	ulimit -n 1048576 2>/dev/null || ulimit -n $$(ulimit -Hn); bin/dandelion soak $(SOAK_ARGS)

# The example configs and the tables of docs/config.md are rendered from the schema; a test fails when they drift.
examples: build
	bin/dandelion config example entrance > entrance-config.yaml.example
	bin/dandelion config example agent publisher > config.yaml.example
	bin/dandelion config example provision agent > provisioning/dandelion.yaml.example
	bin/dandelion config readme docs/config.md

clean:
	rm -rf build .tap dist

.PHONY: fault-test
# The fault matrix (test/faults/): real processes killed by signals (a Redis Cluster master among them), a
# box's disk filled (a small tmpfs, so as root), access logs rotated under the tail, a box cut off from
# every entrance for 5 minutes.
# Not part of `make test` (it takes minutes); .ci/run runs it. Ends with "N passed, N failed".
fault-test:
	@[ "$$(id -u)" -eq 0 ] || { echo "make fault-test needs root (the disk-full case mounts a tmpfs): run it as root" >&2; exit 2; }
	scripts/ensure-debs.sh redis-server nginx
	$(MAKE) build
	scripts/test.sh --only build/test/faults/*.test.js --jobs=1 --timeout=900
