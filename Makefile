# hookspool - see README.md.
#   make        build build/hookspool.fcgi and build/hookspool (nothing else)
#   make deps   install the Debian packages the build, demo and tests need
#   make run    the demo's packages, build, then the lighttpd demo on 127.0.0.1:$(PORT)
#   make test   deps, build, then every unit and integration test
#   make test SANITIZE=1   the same under ASan+UBSan (in build-san/)
#   make test VALGRIND=1   the HTTP-level suites under valgrind memcheck
#   make tsan   the unit tests that run threads, under ThreadSanitizer (build-tsan/)
#   make fuzz   each libFuzzer harness for FUZZ_SECONDS
#   make static both programs fully static, at the same paths
#   make install PREFIX=... [DESTDIR=...]

CC      ?= cc
# CFLAGS and LDFLAGS are the user's (make CFLAGS=-O0 works); what the
# code needs to compile at all rides on HS_CFLAGS, which is always added.
CFLAGS  ?= -O2 -g
HS_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilib
LDLIBS  += -lfcgi -lcrypto -lsqlite3 -lz
PORT    ?= 8080
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 30
# make fuzz: the libFuzzer harnesses' compiler and flags (tests/fuzz/run.sh
# takes them from here). -fno-sanitize-recover: UBSan findings abort, so
# libFuzzer keeps them as crashes instead of printing a line and going on.
FUZZ_CC ?= clang
FUZZ_CFLAGS ?= -g -O1
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all

# STATIC=1 links everything in (libfcgi, libcrypto, libsqlite3, libc), so
# one file can be uploaded to a host without root or build tools.
ifeq ($(STATIC),1)
LDFLAGS += -static
LDLIBS  += -lm -lpthread -ldl
endif

# A sanitized build lives in its own directory, so it never replaces
# the normal programs under build/.
ifeq ($(SANITIZE),1)
B       ?= build-san
else
B       ?= build
endif
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(patsubst lib/%.c,$(B)/obj/%.o,$(LIB_SRC))
UNIT    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))

all: $(B)/hookspool.fcgi $(B)/hookspool

# SANITIZE=1: everything (library, programs, tests) built with ASan and
# UBSan; reports go to $(SAN_DIR), which tests/run.sh checks at the end.
# san_options.o (test code: where the reports go) is linked into each
# program, never archived into libhookspool.a.
SAN_DIR ?= /tmp/hookspool-san
ifeq ($(SANITIZE),1)
HS_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
           -DHS_SAN_DIR='"$(SAN_DIR)"'
HS_LDFLAGS := -fsanitize=address,undefined
SAN_OBJ := $(B)/obj/san_options.o
endif
ALL_CFLAGS = $(HS_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(HS_LDFLAGS) $(LDFLAGS)

# Rebuild everything when the compiler, its flags or the build mode
# change: objects and programs depend on this stamp.
BUILDMODE := $(shell $(CC) --version 2>/dev/null | head -n 1) | $(ALL_CFLAGS) | $(ALL_LDFLAGS) | $(LDLIBS)
$(B)/buildmode: FORCE | $(B)/obj
	@echo '$(subst ','"'"',$(BUILDMODE))' | cmp -s - $@ || echo '$(subst ','"'"',$(BUILDMODE))' > $@
FORCE:

$(B)/obj/%.o: lib/%.c $(wildcard lib/*.h) $(B)/buildmode | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/san_options.o: tests/san_options.c $(B)/buildmode | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libhookspool.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/hookspool.fcgi: cgi/hookspool_fcgi.c $(B)/libhookspool.a $(SAN_OBJ) $(B)/buildmode
	$(CC) $(ALL_CFLAGS) -o $@ $< $(SAN_OBJ) $(B)/libhookspool.a $(ALL_LDFLAGS) $(LDLIBS)

$(B)/hookspool: cgi/hookspool.c $(B)/libhookspool.a $(SAN_OBJ) $(B)/buildmode
	$(CC) $(ALL_CFLAGS) -o $@ $< $(SAN_OBJ) $(B)/libhookspool.a $(ALL_LDFLAGS) $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(B)/libhookspool.a $(SAN_OBJ) | $(B)/tests
	$(CC) $(ALL_CFLAGS) -Wno-format-truncation -Itests/unit -o $@ $< $(SAN_OBJ) $(B)/libhookspool.a $(ALL_LDFLAGS) $(LDLIBS)

$(B)/obj $(B)/tests:
	mkdir -p $@

unit: $(UNIT)

# make deps installs everything make test needs; make run only what the
# demo needs (the build, lighttpd, curl, python3).
deps:
	@sh deploy/deps.sh test

run:
	@sh deploy/deps.sh demo
	@$(MAKE) --no-print-directory all
	@sh deploy/demo/run.sh $(PORT)

test:
	@sh deploy/deps.sh test
	@$(MAKE) --no-print-directory all unit
	@HOOKSPOOL_TEST_BUILD=$(CURDIR)/$(B) SAN_DIR=$(if $(filter 1,$(SANITIZE)),$(SAN_DIR)) \
		VALGRIND=$(VALGRIND) sh tests/run.sh

fuzz:
	@sh deploy/deps.sh test
	@$(MAKE) --no-print-directory all
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CC='$(FUZZ_CC)' \
		FUZZ_CFLAGS='$(HS_CFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN)' LDLIBS='$(LDLIBS)' sh tests/fuzz/run.sh

# The unit tests that run threads, built with ThreadSanitizer in
# build-tsan/. flock(2) orders nothing TSan can see, so what threads
# share in memory must be ordered by a lock of ours, which TSan checks:
# the dedup tail a FastCGI process' workers share (issue 18), the
# flusher. (-Wno-tsan: TSan does not model counters.c's fences; no test
# here runs those across threads.)
TSAN_UNIT := test_dedup test_flush test_spool test_keyfilter
tsan:
	@sh deploy/deps.sh test
	@$(MAKE) --no-print-directory B=build-tsan CFLAGS='-O1 -g -fsanitize=thread -Wno-tsan' \
		LDFLAGS=-fsanitize=thread all $(addprefix build-tsan/tests/,$(TSAN_UNIT))
	@TSAN_OPTIONS=halt_on_error=1 HOOKSPOOL_TEST_BUILD=$(CURDIR)/build-tsan UNIT_ONLY=1 \
		TESTS='$(TSAN_UNIT)' sh tests/run.sh

# Not part of make test: minutes of load, numbers read by people.
bench:
	@EXTRA="wrk php-cgi linux-perf strace g++ libsimdjson-dev" sh deploy/deps.sh test
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh

static:
	$(MAKE) STATIC=1 all

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/hookspool \
		$(DESTDIR)$(PREFIX)/share/hookspool
	install -m 755 $(B)/hookspool $(DESTDIR)$(PREFIX)/bin/hookspool
	install -m 755 $(B)/hookspool.fcgi $(DESTDIR)$(PREFIX)/libexec/hookspool/hookspool.fcgi
	cp -R deploy/. $(DESTDIR)$(PREFIX)/share/hookspool/

clean:
	rm -rf build build-san

.PHONY: all unit deps run test fuzz tsan bench static install clean FORCE
