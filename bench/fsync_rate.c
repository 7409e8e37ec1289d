/*
 * fsync_rate.c - the disk's single-writer flush rate, as hookspool's
 * HOOKSPOOL_FSYNC=always path sees it: append 1 KiB to a file, then
 * fdatasync(2), in a loop for a few seconds, in the given directory
 * (put it on the same filesystem as the spool).
 *
 *   fsync_rate DIR [SECONDS=5] [BYTES=1024]
 *
 * Prints one line: fsync_rate ops=N seconds=S per_s=R p50_us=.. p99_us=.. max_us=..
 * The file is removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char path[4096], *buf;
    double secs = argc > 2 ? atof(argv[2]) : 5.0, t0, t, last;
    size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 1024, cap = 1 << 20, n = 0;
    unsigned *lat;
    int fd;

    if (argc < 2 || secs <= 0 || bytes == 0) {
        fprintf(stderr, "usage: fsync_rate DIR [SECONDS] [BYTES]\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/fsync-rate.%ld", argv[1], (long)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fsync_rate: %s: %s\n", path, strerror(errno));
        return 1;
    }
    buf = malloc(bytes);
    lat = malloc(cap * sizeof(*lat));
    if (buf == NULL || lat == NULL) return 1;
    memset(buf, 'x', bytes);
    buf[bytes - 1] = '\n';
    t0 = last = now_s();
    do {
        if (write(fd, buf, bytes) != (ssize_t)bytes || fdatasync(fd) != 0) {
            fprintf(stderr, "fsync_rate: %s: %s\n", path, strerror(errno));
            unlink(path);
            return 1;
        }
        t = now_s();
        if (n < cap) lat[n] = (unsigned)((t - last) * 1e6);
        n++;
        last = t;
    } while (t - t0 < secs);
    close(fd);
    unlink(path);
    {
        size_t m = n < cap ? n : cap;
        qsort(lat, m, sizeof(*lat), cmp_u32);
        printf("fsync_rate ops=%zu seconds=%.3f per_s=%.1f p50_us=%u p99_us=%u max_us=%u\n",
               n, t - t0, (double)n / (t - t0), lat[m / 2], lat[(m * 99) / 100], lat[m - 1]);
    }
    return 0;
}
