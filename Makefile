# shim6d — build, test, run and benchmark on a fresh Debian 12 machine.
#
#   make run     set up, build, and run the two-site failover lab (the mission)
#   make test    set up, build, and pass the tests
#   make bench   set up, build, and print the forwarding benchmark table

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Debian packages the build, the tests and the lab need.
DEBS := libdpdk-dev dpdk-dev dpdk-doc pkg-config tshark iproute2 ethtool iputils-ping iperf3 nftables prometheus lintian systemd keepalived python3

.PHONY: all deps build test run run-forwarding bench run-ha vet fmt clean deb

all: build

# deps installs only what is missing, so it is cheap to run every time.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		case "$$missing" in *keepalived*) systemctl disable --now keepalived >/dev/null 2>&1 || true ;; esac; \
	fi
	@pkg-config --exists libdpdk || { echo "libdpdk not found by pkg-config after install" >&2; exit 1; }

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/shim6d ./cmd/shim6ctl ./lab/tcpcheck ./bench/pcapgen

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }

# The tests include the end-to-end labs, which need root for namespaces.
# They run on their own, after the rest: their failover timings (a stall
# under 2 s) should not share the two cores with other packages' tests.
test: deps build vet
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/lab$$')
	$(GO) test -count=1 -timeout 20m ./lab/
	$(GO) test -count=1 -race -timeout 10m ./dataplane/... ./control/... ./ports/mem/

# The mission: two sites, a TCP transfer, ISP1 cut, the connection carries on.
run: deps build
	lab/failover.sh

# The redundant pair: site A's active box dies mid-transfer, the standby
# takes over from the replicated contexts (KILL=daemon, REPLICATION=false).
run-ha: deps build
	lab/failover-ha.sh

# The one-site forwarding lab (ND, ping, a verified 100 MB transfer).
run-forwarding: deps build
	lab/run.sh

bench: deps build
	bench/run.sh

# The Debian package, $(BIN)/shim6d_VERSION_amd64.deb (configs/debian/build-deb.sh),
# from binaries built as Debian builds its own: position-independent, full RELRO.
deb: deps
	$(GO) build -buildmode=pie -ldflags "$(LDFLAGS) -linkmode=external -extldflags=-Wl,-z,relro,-z,now" -o $(BIN)/deb/ ./cmd/shim6d ./cmd/shim6ctl
	configs/debian/build-deb.sh $(BIN)/deb $(BIN)

clean:
	rm -rf $(BIN) bench/out
