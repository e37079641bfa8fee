# Dandelion. `make demo` runs the network on this machine; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages the tests and the demo use (installed when missing).
TEST_DEBS := redis-server nginx ffmpeg chromium

.PHONY: build test demo deps examples clean

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.json
	node scripts/build-info.mjs

deps:
	scripts/ensure-debs.sh $(TEST_DEBS)

test: build deps
	scripts/test.sh

demo: build deps
	bin/dandelion demo

# The example configs are rendered from the schema; a test fails when they drift.
examples: build
	bin/dandelion config example entrance > entrance-config.yaml.example
	bin/dandelion config example agent publisher > config.yaml.example
	bin/dandelion config readme README.md

clean:
	rm -rf build .tap
