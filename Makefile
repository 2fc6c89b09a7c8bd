# tc-tap: kernel-side packet tap with a managed recorder. See README.md.
CLANG   ?= clang
CC      ?= gcc
DOTNET  ?= dotnet
CONFIG  ?= Release
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I bpf -I $(ARCH_INC)

BPF_SRC  := $(wildcard bpf/*.c)
BPF_OBJS := $(BPF_SRC:.c=.o)
TOOLS    := build/tapgen
CS_SRC   := $(shell find src -name '*.cs' -o -name '*.csproj' 2>/dev/null) Directory.Build.props

DEB_PKGS := clang llvm libbpf-dev bpftool libxdp-dev xdp-tools iproute2 netsniff-ng tcpdump lz4 \
            tshark nftables gcc make python3 python3-matplotlib linux-perf

.PHONY: all bpf tools dotnet deps test test-unit demo bench bench-quick soak clean lab-up lab-down
all: bpf tools dotnet

bpf: $(BPF_OBJS)
bpf/%.o: bpf/%.c bpf/tap.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

tools: $(TOOLS)
build/tapgen: tools/gen/tapgen.c
	@mkdir -p build
	$(CC) -O2 -Wall -Werror -o $@ $<

dotnet: build/.dotnet-stamp
build/.dotnet-stamp: $(CS_SRC)
	@mkdir -p build
	$(DOTNET) publish src/TcLoader -c $(CONFIG) -o build/tcloader --nologo -v q
	$(DOTNET) publish src/Recorder -c $(CONFIG) -o build/recorder --nologo -v q
	@touch $@

# Installs the Debian packages the project needs; quiet and quick when they are all there.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@command -v $(DOTNET) >/dev/null || { echo "the .NET SDK (dotnet) is required" >&2; exit 1; }

test: deps all
	tools/run-tests.sh

# Unit tests only: no root, no lab.
test-unit: bpf tools dotnet
	tools/run-tests.sh --filter 'Category!=Root'

demo: deps all
	tools/demo.sh

bench: deps all
	tools/bench/bench.sh

bench-quick: deps all
	tools/bench/bench.sh --quick

soak: deps all
	tools/soak.sh

lab-up: tools
	tools/lab/lab.sh up

lab-down:
	tools/lab/lab.sh down

clean:
	rm -rf build bpf/*.o src/*/bin src/*/obj tests/*/bin tests/*/obj
