# swift-ironic: the two set-up commands are `make run` and `make test`.

APT_PACKAGES := libsqlite3-dev libcrypt-dev libcurl4-openssl-dev libfreeipmi-dev libipmiconsole-dev freeipmi-tools openipmi python3-venv curl postgresql libjs-xterm node-xterm chromium qemu-system-x86 ipxe-qemu qemu-utils busybox-static dnsmasq-base linux-image-amd64 genisoimage pxelinux syslinux-common parted gdisk
SWIFT ?= swift
VENV ?= .venv
CONFIG ?=

.PHONY: run test build deps unit-test client-test test-images bench clean postgres-up postgres-down

## Install the Debian packages the build and tests need (only those missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

## Release binaries under .build/release/.
build: deps
	$(SWIFT) build -c release

## API + conductor on 127.0.0.1:6385 with embedded SQLite under ./var/.
run: build
	mkdir -p var
	.build/release/ironic standalone $(if $(CONFIG),--config-file $(CONFIG),)

## Every test: Swift unit and integration tests, then the real Python clients.
test: deps unit-test client-test

## The store tests run against SQLite and a throwaway PostgreSQL server under var/test-postgres/
## (started here unless IRONIC_TEST_POSTGRES_URL names one, and stopped again afterwards).
## Output is kept in var/test-logs/swift-test.log; a failed run ends with its failures.
unit-test:
	$(SWIFT) build --build-tests
	scripts/ansible-venv.sh var/ansible-venv
	SWIFT=$(SWIFT) scripts/swift-test.sh

## The throwaway PostgreSQL server of the store tests (127.0.0.1, a free port); prints the URL
## to export as IRONIC_TEST_POSTGRES_URL.
postgres-up:
	@scripts/test-postgres.sh start
	@echo "export IRONIC_TEST_POSTGRES_URL='$$(scripts/test-postgres.sh url)'"

postgres-down:
	@scripts/test-postgres.sh stop

## The lab's deploy ramdisk (the unmodified ironic-python-agent from PyPI, with sshd for the
## ansible deploy interface; OpenSSH's server is installed without starting a system sshd)
## and a whole-disk test image, under var/images (docs/ramdisk.md). Needs root (sudo
## otherwise); only what changed is rebuilt.
test-images: deps
	@if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	$$SUDO scripts/build-deploy-ramdisk.sh var/images && scripts/build-test-image.sh var/images

client-test: test-images
	$(SWIFT) build --product ironic
	$(SWIFT) build --product ironic-api
	$(SWIFT) build --product ironic-conductor
	$(SWIFT) build --product ironic-ipmiproxy
	Tests/Client/setup-venv.sh
	scripts/ansible-venv.sh var/ansible-venv
	IRONIC_BIN=$(CURDIR)/.build/debug/ironic VENV=$(VENV) $(VENV)/bin/python -m pytest -q Tests/Client

## Benchmarks against a release build, side by side with upstream Ironic from PyPI
## (figures and ratios, not pass/fail); see Benchmarks/README.md.
## Only swift-ironic: make bench BENCH_ARGS=
BENCH_ARGS ?= --reference-ironic
## Console sessions through one proxy beside FreeIPMI's ipmiconsole, e.g. CONSOLE_BENCH_ARGS=--sessions=50
CONSOLE_BENCH_ARGS ?=

bench: deps
	-@dpkg -s wrk >/dev/null 2>&1 || $(MAKE) --no-print-directory deps APT_PACKAGES=wrk
	$(SWIFT) build -c release --product ironic
	python3 Benchmarks/bench.py --ironic .build/release/ironic $(BENCH_ARGS)
	$(SWIFT) build -c release --product ironic-bench-sync && .build/release/ironic-bench-sync
	$(SWIFT) build -c release --product ironic-api && $(SWIFT) build -c release --product ironic-conductor
	python3 Benchmarks/cluster_bench.py --bindir .build/release
	$(SWIFT) build -c release --product ironic-ipmiproxy
	python3 Benchmarks/console_bench.py --bindir .build/release $(CONSOLE_BENCH_ARGS)
	$(MAKE) --no-print-directory test-images && python3 Benchmarks/deploy_bench.py --ironic .build/release/ironic $(DEPLOY_BENCH_ARGS)
	scripts/install-openssh-server.sh && python3 Benchmarks/ansible_bench.py --ironic .build/release/ironic $(ANSIBLE_BENCH_ARGS)

clean: postgres-down
	rm -rf .build var
