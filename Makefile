# hookspool - see README.md.
#   make        build build/hookspool.fcgi and build/hookspool (nothing else)
#   make deps   install the Debian packages the build, demo and tests need
#   make run    deps, build, then the lighttpd demo on 127.0.0.1:$(PORT)
#   make test   deps, build, then every unit and integration test
#   make test SANITIZE=1   the same under ASan+UBSan (in build-san/)
#   make test VALGRIND=1   the HTTP-level suites under valgrind memcheck
#   make fuzz   each libFuzzer harness for FUZZ_SECONDS
#   make static both programs fully static, at the same paths
#   make install PREFIX=... [DESTDIR=...]

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilib
LDLIBS  += -lfcgi -lcrypto -lsqlite3
PORT    ?= 8080
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 30

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
SAN_DIR ?= /tmp/hookspool-san
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
           -DHS_SAN_DIR='"$(SAN_DIR)"'
LDFLAGS += -fsanitize=address,undefined
SAN_OBJ := $(B)/obj/san_options.o
endif

# Rebuild everything when switching between static, dynamic and
# sanitized builds: objects and programs depend on this stamp.
BUILDMODE := $(if $(filter 1,$(STATIC)),static,dynamic)$(if $(filter 1,$(SANITIZE)),-san)
$(B)/buildmode: FORCE | $(B)/obj
	@echo $(BUILDMODE) | cmp -s - $@ || echo $(BUILDMODE) > $@
FORCE:

$(B)/obj/%.o: lib/%.c $(wildcard lib/*.h) $(B)/buildmode | $(B)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/san_options.o: tests/san_options.c $(B)/buildmode | $(B)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libhookspool.a: $(LIB_OBJ) $(SAN_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/hookspool.fcgi: cgi/hookspool_fcgi.c $(B)/libhookspool.a $(B)/buildmode
	$(CC) $(CFLAGS) -o $@ $< $(B)/libhookspool.a $(LDFLAGS) $(LDLIBS)

$(B)/hookspool: cgi/hookspool.c $(B)/libhookspool.a $(B)/buildmode
	$(CC) $(CFLAGS) -o $@ $< $(B)/libhookspool.a $(LDFLAGS) $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(B)/libhookspool.a | $(B)/tests
	$(CC) $(CFLAGS) -Wno-format-truncation -Itests/unit -o $@ $< $(B)/libhookspool.a $(LDFLAGS) $(LDLIBS)

$(B)/obj $(B)/tests:
	mkdir -p $@

unit: $(UNIT)

deps:
	@sh deploy/deps.sh

run: deps all
	@sh deploy/demo/run.sh $(PORT)

test: deps all unit
	@HOOKSPOOL_TEST_BUILD=$(CURDIR)/$(B) SAN_DIR=$(if $(filter 1,$(SANITIZE)),$(SAN_DIR)) \
		VALGRIND=$(VALGRIND) sh tests/run.sh

fuzz: deps all
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

# Not part of make test: minutes of load, numbers read by people.
bench: all
	@EXTRA="wrk php-cgi linux-perf strace g++ libsimdjson-dev" sh deploy/deps.sh
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

.PHONY: all unit deps run test fuzz bench static install clean FORCE
