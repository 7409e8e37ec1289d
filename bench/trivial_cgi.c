/*
 * trivial_cgi.c - the floor for hookspool.fcgi run as a plain CGI: read
 * the body from stdin (CONTENT_LENGTH bytes, or to EOF), print a 200 JSON
 * answer. Built dynamically and with `cc -static` by bench/run.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char answer[] =
        "Status: 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 12\r\n"
        "\r\n"
        "{\"ok\":true}\n";
    static char buf[65536];
    const char *cl = getenv("CONTENT_LENGTH");
    long long left = cl && *cl ? strtoll(cl, NULL, 10) : -1;
    size_t off = 0, n = sizeof(answer) - 1;

    while (left != 0) {
        size_t want = sizeof(buf);
        ssize_t r;
        if (left > 0 && (long long)want > left) want = (size_t)left;
        r = read(0, buf, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (left > 0) left -= r;
    }
    while (off < n) {
        ssize_t w = write(1, answer + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 1;
        off += (size_t)w;
    }
    return 0;
}
