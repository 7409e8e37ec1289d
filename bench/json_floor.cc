/*
 * json_floor.cc - what the large-body target leaves room for, measured
 * with the fastest validating JSON parser Debian ships (simdjson, which
 * picks the widest SIMD this CPU has). Not part of hookspool: bench/run.sh
 * builds it when g++ and libsimdjson-dev are there (make bench installs
 * them) and prints its numbers next to the handler's.
 *
 *   json_floor BODY DIR SECONDS
 *
 * Over BODY (a file), for at least SECONDS each, one after the other:
 *   parse   simdjson's DOM parser: full RFC 8259 validation, UTF-8
 *           included (it also builds a tape, which a validator alone
 *           would not need, so this is a generous floor for validation);
 *   minify  simdjson::minify (whitespace removal only, no validation);
 *   write   pwrite of the minified bytes appended to DIR/floor-N.jsonl,
 *           a new file every 64 MiB as the spool rotates; closing and
 *           deleting the full ones is not timed.
 * Prints one line:
 *   floor bytes=N impl=NAME parse_us=X minify_us=Y write_us=Z
 * (microseconds per body, wall time).
 */
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <unistd.h>

using clk = std::chrono::steady_clock;

static const long long ROTATE = 64LL << 20;   /* HOOKSPOOL_ROTATE_BYTES's default */

static double since_us(clk::time_point t0)
{
    return std::chrono::duration<double, std::micro>(clk::now() - t0).count();
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: json_floor BODY DIR SECONDS\n");
        return 2;
    }
    double secs = std::strtod(argv[3], nullptr);
    simdjson::padded_string body;
    if (simdjson::padded_string::load(argv[1]).get(body)) {
        std::fprintf(stderr, "json_floor: cannot read %s\n", argv[1]);
        return 1;
    }
    size_t n = body.size();
    simdjson::dom::parser parser;
    std::string out(n + simdjson::SIMDJSON_PADDING, '\0');
    size_t outlen = 0;
    long iters;
    double parse_us = 0, minify_us = 0, write_us = 0;

    /* parse: every byte validated (a body that fails is a broken run) */
    iters = 0;
    for (clk::time_point t0 = clk::now(); iters < 5 || since_us(t0) < secs * 1e6; iters++) {
        clk::time_point t = clk::now();
        simdjson::dom::element doc;
        if (parser.parse(body).get(doc)) {
            std::fprintf(stderr, "json_floor: simdjson refuses the body\n");
            return 1;
        }
        parse_us += since_us(t);
    }
    parse_us /= (double)iters;

    iters = 0;
    for (clk::time_point t0 = clk::now(); iters < 5 || since_us(t0) < secs * 1e6; iters++) {
        clk::time_point t = clk::now();
        if (simdjson::minify(body.data(), n, &out[0], outlen) != simdjson::SUCCESS) {
            std::fprintf(stderr, "json_floor: minify failed\n");
            return 1;
        }
        minify_us += since_us(t);
    }
    minify_us /= (double)iters;

    /* write: appends of the minified bytes, rotating like the spool */
    {
        std::string path = std::string(argv[2]) + "/floor.jsonl";
        int fd = -1;
        long long off = ROTATE;
        iters = 0;
        for (clk::time_point t0 = clk::now(); iters < 5 || since_us(t0) < secs * 1e6; iters++) {
            if (off + (long long)outlen > ROTATE) {          /* untimed */
                if (fd >= 0 && (close(fd) != 0 || unlink(path.c_str()) != 0)) return 1;
                fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0) { std::perror(path.c_str()); return 1; }
                off = 0;
            }
            clk::time_point t = clk::now();
            if (pwrite(fd, out.data(), outlen, (off_t)off) != (ssize_t)outlen) {
                std::perror("pwrite");
                return 1;
            }
            write_us += since_us(t);
            off += (long long)outlen;
        }
        write_us /= (double)iters;
        if (close(fd) != 0 || unlink(path.c_str()) != 0) return 1;
    }

    std::printf("floor bytes=%zu minified=%zu impl=%s parse_us=%.1f minify_us=%.1f write_us=%.1f\n",
                n, outlen, simdjson::get_active_implementation()->name().c_str(),
                parse_us, minify_us, write_us);
    return 0;
}
