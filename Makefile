# hookspool - see README.md.
#   make        build build/hookspool.fcgi and build/hookspool (nothing else)
#   make deps   install the Debian packages the build, demo and tests need
#   make run    deps, build, then the lighttpd demo on 127.0.0.1:$(PORT)
#   make test   deps, build, then every unit and integration test

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilib
LDLIBS  += -lfcgi -lcrypto -lsqlite3
PORT    ?= 8080

B       := build
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(patsubst lib/%.c,$(B)/obj/%.o,$(LIB_SRC))
UNIT    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))

all: $(B)/hookspool.fcgi $(B)/hookspool

$(B)/obj/%.o: lib/%.c $(wildcard lib/*.h) | $(B)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libhookspool.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/hookspool.fcgi: cgi/hookspool_fcgi.c $(B)/libhookspool.a
	$(CC) $(CFLAGS) -o $@ $< $(B)/libhookspool.a $(LDFLAGS) $(LDLIBS)

$(B)/hookspool: cgi/hookspool.c $(B)/libhookspool.a
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
	@sh tests/run.sh

clean:
	rm -rf $(B)

.PHONY: all unit deps run test clean
