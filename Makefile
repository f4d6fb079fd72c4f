# segagent build. Plain GNU make; every source file is found by wildcard so adding a module needs no edit here.
#   make            library, CLI, tests, benchmarks (into build/)
#   make test       run the whole test suite (ends with "N passed, N failed")
#   make asan       AddressSanitizer + UBSan build of the tests into build-asan/ and run them
#   make fuzz       libFuzzer targets (clang) into build-fuzz/
#   NATIVE=1        add -march=native (opt-in; default build runs on any x86-64)
BUILD   ?= build
CC      ?= cc
OPT     ?= -O3
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wpedantic -Wshadow \
              -Wstrict-prototypes -Wmissing-prototypes -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread
ifeq ($(NATIVE),1)
OPT += -march=native
endif
SAN_FLAGS ?=
CFLAGS  = $(CFLAGS_BASE) $(OPT) -g $(SAN_FLAGS) -MMD -MP $(EXTRA_CFLAGS)
OPENBLAS_LIB := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so) -lopenblas)
LDLIBS  = -lpng -ljpeg -lcjson -lcurl -lmicrohttpd $(OPENBLAS_LIB) -lz -lpthread -lm
LDFLAGS = $(SAN_FLAGS) -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-pthread

LIB_SRC   := $(sort $(shell find src -name "*.c" -not -path "src/cli/*"))
CLI_SRC   := $(sort $(shell find src/cli -name "*.c"))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTUTIL  := $(sort $(wildcard tests/util_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTU_OBJ := $(TESTUTIL:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libsegagent.a
CLI       := $(BUILD)/segagent
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test asan fuzz clean
all: $(LIB) $(CLI) $(TESTS) $(BENCHES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTU_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTU_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test: all
	@BUILD=$(BUILD) bash tests/run_tests.sh

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@BUILD=build-asan SEGAGENT_SANITIZED=1 bash tests/run_tests.sh

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 SAN_FLAGS="-fsanitize=address,undefined,fuzzer-no-link" build-fuzz/libsegagent.a
	@mkdir -p build-fuzz/fuzz
	for f in $(FUZZ_SRC); do b=$$(basename $$f .c); \
	  clang $(CFLAGS_BASE) -O1 -g -fsanitize=address,undefined,fuzzer $$f build-fuzz/libsegagent.a $(LDLIBS) -o build-fuzz/fuzz/$$b || exit 1; done

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
