# hubzip - build, test, run, bench.  See README.md.
#
#   make            build build/hubzip
#   make run        install what is missing, build, init ./data (the --mini corpus in it), serve it
#   make test       install what tests need, build, run every test (normal + ASan/UBSan)
#   make bench      ingest/restore a corpus (CORPUS=DIR) side by side with zstd; see tests/bench/
#   make asan|ubsan run the unit tests and fuzz replays under a sanitizer
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz/ (FB=DIR)
#   make test-load  the load test: 64 clients for 60 s, then 30 s of downloads during big uploads (docs/bench.md)
#   make fuzz-run   run every fuzz target FUZZ_SECONDS (600) and report findings
#   make test-crash SIGKILL the daemon under load CRASH_CYCLES (60) times (docs/reliability.md)
#   make test-swift the S3 test against OpenStack Swift (s3api), from Debian packages
#   make clean

B        ?= build
CC       ?= cc
OPT      ?= -O2 -g
SAN      ?=
# libmicrohttpd and libcurl are dlopen()ed by api/dynlib.c when serving or
# pushing/pulling: linked, they would cost every CLI run ~2.5 ms of startup.
PKGS     := libzstd jansson libxxhash sqlite3 libcrypto
WARN     := -Wall -Wextra -Werror -Wvla -Wstrict-prototypes -Wmissing-prototypes -Wshadow
# libpq: only its header; store/index_pg.c dlopen()s it for a PostgreSQL index
CPPFLAGS += -I. -I$(B)/gen -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
CFLAGS   += -std=c11 $(OPT) $(WARN) $(SAN) -fno-strict-aliasing
LDFLAGS  += $(SAN)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lzstd -ljansson -lxxhash -lsqlite3 -lcrypto) -lpthread -lm
CORPUS_MINI ?= /var/tmp/mhub-corpus/mini
CORPUS   ?= /var/tmp/mhub-corpus/public

# Modules, in dependency order: common <- delta <- store <- api <- daemon.
LIB_SRC  := $(wildcard common/*.c) $(wildcard delta/*.c) $(wildcard store/*.c) $(wildcard api/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/migrations.o $(B)/obj/gen/ui_assets.o
BIN_SRC  := $(wildcard daemon/*.c)
BIN_OBJ  := $(BIN_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/replay_%)
MIGRATIONS := $(sort $(wildcard migrations/[0-9][0-9][0-9][0-9]_*.sql))
MIGRATIONS_PG := $(sort $(wildcard migrations/postgresql/[0-9][0-9][0-9][0-9]_*.sql))
UI_ASSETS := $(sort $(wildcard api/ui/*.html api/ui/*.js api/ui/*.css))
DEPS_STAMP := build/.deps-ok

.PHONY: corpus-mini all deps test test-unit test-fuzz test-integration test-layers test-load test-crash asan ubsan fuzz fuzz-run run bench clean test-swift
.SECONDARY:

all: $(B)/hubzip

# Install the Debian packages the build needs when something is missing.
deps: $(DEPS_STAMP)
$(DEPS_STAMP): deploy/install-deps.sh
	@deploy/install-deps.sh
	@mkdir -p $(dir $@) && touch $@

$(B)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/gen/migrations.c: $(MIGRATIONS) $(MIGRATIONS_PG) migrations/embed.sh
	@mkdir -p $(dir $@)
	sh migrations/embed.sh $(MIGRATIONS) --postgresql $(MIGRATIONS_PG) > $@.tmp && mv $@.tmp $@

$(B)/obj/gen/migrations.o: $(B)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# the dashboard's files, embedded in the binary (api/ui.c serves them)
$(B)/gen/ui_assets.c: $(UI_ASSETS) api/ui/embed.sh
	@mkdir -p $(dir $@)
	sh api/ui/embed.sh $(UI_ASSETS) > $@.tmp && mv $@.tmp $@

$(B)/obj/gen/ui_assets.o: $(B)/gen/ui_assets.c api/ui_int.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libhubzip.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/hubzip: $(BIN_OBJ) $(B)/libhubzip.a
	$(CC) $(LDFLAGS) -o $@ $(BIN_OBJ) $(B)/libhubzip.a $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libhubzip.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -o $@ $< $(B)/libhubzip.a $(LDLIBS) -lcmocka

# the load generator (tests/load/): links libcurl itself
$(B)/hzload: tests/load/hzload.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lcurl -lcrypto -lpthread

$(B)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(B)/libhubzip.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(B)/libhubzip.a $(LDLIBS)

test-unit: $(UNIT_BIN) corpus-mini
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; \
		HZ_FIXTURES=tests/fixtures HZ_CORPUS_MINI=$(CORPUS_MINI) $$t; done

# The --mini mock hub the tests use, built once and cached (../shared/corpus).
corpus-mini:
	@[ -f $(CORPUS_MINI)/MANIFEST.tsv ] || ../shared/corpus/build.sh --mini $(CORPUS_MINI)

test-fuzz: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_REPLAY); do n=$${t##*/replay_fuzz_}; \
		echo "== $$t tests/fuzz/corpus/$$n"; $$t tests/fuzz/corpus/$$n; done

test-layers:
	@sh tests/check-layers.sh

test-integration: $(B)/hubzip $(B)/hzload
	@set -e; for t in $(sort $(wildcard tests/integration/[0-9]*.sh)); do echo "== $$t"; \
		HUBZIP=$(B)/hubzip HZLOAD=$(B)/hzload CORPUS_MINI=$(CORPUS_MINI) bash $$t; done

# opt-in, ~2 minutes: 64 mixed clients for 60 s, then 16 downloading
# clients for 30 s while another uploads a 256 MiB model again and again
# (downloads must not stall behind its ingests)
test-load: $(B)/hubzip $(B)/hzload corpus-mini
	HUBZIP=$(B)/hubzip HZLOAD=$(B)/hzload CORPUS_MINI=$(CORPUS_MINI) \
		bash tests/load/load.sh --seconds 60 --out $(B)/load.json
	HUBZIP=$(B)/hubzip HZLOAD=$(B)/hzload CORPUS_MINI=$(CORPUS_MINI) \
		bash tests/load/load.sh --seconds 30 --clients 16 --downloads-only 1 --big 256 \
		--out $(B)/load-big.json

# opt-in, ~5 minutes: the crash harness (make test runs 5 cycles of it in
# tests/integration/25_crash.sh)
CRASH_CYCLES ?= 60
test-crash: $(B)/hubzip corpus-mini
	python3 tests/crash/crash.py --hubzip $(B)/hubzip --corpus $(CORPUS_MINI) \
		--cycles $(CRASH_CYCLES) --json $(B)/crash.json

test: deps test-layers
	deploy/install-deps.sh --test
	$(MAKE) test-unit test-fuzz
	$(MAKE) asan
	$(MAKE) ubsan
	$(MAKE) test-integration
	@echo "all tests passed"

# The daemon test runs against a sanitized binary too: its server paths
# (threads, streaming callbacks, aborts) are not reached by unit tests.
asan:
	$(MAKE) B=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test-unit test-fuzz \
		build/asan/hubzip
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/22_integrity_daemon.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/50_daemon.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/55_limits.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/57_security.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/60_hub_upload.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/80_push_pull.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/85_stats.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/87_metrics.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/89_hostile.sh
	HUBZIP=build/asan/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/integration/91_s3.sh

# Opt-in: the S3 test (91_s3.sh) against OpenStack Swift's s3api instead of
# s3rver; tests/swift/run.sh runs a single-node Swift in a temporary directory.
test-swift: $(B)/hubzip corpus-mini
	deploy/install-deps.sh --swift
	HUBZIP=$(B)/hubzip CORPUS_MINI=$(CORPUS_MINI) bash tests/swift/run.sh

ubsan:
	$(MAKE) B=build/ubsan OPT="-O1 -g" \
		SAN="-fsanitize=undefined -fno-sanitize-recover=all" test-unit test-fuzz

# libFuzzer targets (clang): $(FB)/fuzz_<name>; run e.g.
#   build/fuzz/fuzz_safetensors -max_total_time=600 tests/fuzz/corpus/safetensors
FB ?= build/fuzz
fuzz:
	$(MAKE) B=$(FB) CC=clang OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined,fuzzer-no-link" $(FB)/libhubzip.a
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
		echo "clang $$f -> $(FB)/$$n"; \
		clang $(CPPFLAGS) -I$(FB)/gen -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined \
			-o $(FB)/$$n $$f $(FB)/libhubzip.a $(LDLIBS); done

# Every fuzz target for FUZZ_SECONDS, FUZZ_PARALLEL at a time (nice 19), on
# a copy of its corpus: executions, coverage and findings per target
# (tests/fuzz/run.sh; docs/security.md, "Fuzzing").
FUZZ_SECONDS ?= 600
FUZZ_PARALLEL ?= 2
fuzz-run: fuzz
	bash tests/fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_PARALLEL)

run: all
	deploy/run.sh $(B)/hubzip $(CORPUS_MINI)

bench: all
	deploy/install-deps.sh --bench
	python3 tests/bench/bench.py --hubzip $(B)/hubzip --corpus $(CORPUS)
	python3 tests/bench/s3.py --hubzip $(B)/hubzip --corpus $(CORPUS)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
