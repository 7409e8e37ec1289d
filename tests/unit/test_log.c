/* Unit tests of lib/log: the rate limit per process, and the one shared
 * between processes through shared memory (issue 13, item 8: in CGI mode
 * every request is a process of its own, so a per-process limit limits
 * nothing). The clock is passed in, so nothing here depends on timing. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

#define NPROC 8
#define NLINE 50

static char path[] = "/tmp/hs-test-log-XXXXXX";

/* Lines in the log file, and the sum of the "N more ... suppressed". */
static void tally(int *lines, int *marked, unsigned long *summed)
{
    FILE *f = fopen(path, "r");
    char ln[2048];
    *lines = *marked = 0;
    *summed = 0;
    if (f == NULL) return;
    while (fgets(ln, sizeof(ln), f) != NULL) {
        unsigned long n;
        (*lines)++;
        if (strstr(ln, "reject ") != NULL) (*marked)++;
        if (sscanf(ln, "hookspool: %lu more log lines suppressed", &n) == 1) *summed += n;
    }
    fclose(f);
}

static void test_per_process(int fd)
{
    hs_log lg;
    int i, lines, marked;
    unsigned long summed;

    hs_log_init(&lg, fd);
    for (i = 0; i < 25; i++) hs_logf(&lg, 1000, "reject %d", i);
    hs_logf(&lg, 1001, "reject next");
    tally(&lines, &marked, &summed);
    CHECK_MSG(marked == HS_LOG_PER_SECOND + 1 && summed == 15, "%d lines, %lu summed",
              marked, summed);
    hs_log_destroy(&lg);
}

static void test_shared(int fd)
{
    uint64_t *words;
    hs_log_shared sh;
    pid_t pids[NPROC];
    int i, st, lines, marked, ok = 1;
    unsigned long summed;

    words = mmap(NULL, 2 * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(words != MAP_FAILED);
    if (words == MAP_FAILED) return;
    words[0] = words[1] = 0;
    sh.window = &words[0];
    sh.suppressed = &words[1];
    /* NPROC processes, each its own limiter, all in one second: 10 lines
     * reach the log between them, not 10 each. */
    for (i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            hs_log lg;
            int k;
            hs_log_init(&lg, fd);
            for (k = 0; k < NLINE; k++) hs_logf_shared(&lg, &sh, 2000, "reject %d.%d", i, k);
            hs_log_destroy(&lg);   /* a CGI process ends: nothing of its own to sum */
            _exit(0);
        }
    }
    for (i = 0; i < NPROC; i++)
        if (pids[i] < 0 || waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) ok = 0;
    CHECK(ok);
    tally(&lines, &marked, &summed);
    CHECK_MSG(marked == HS_LOG_PER_SECOND && summed == 0, "%d lines, %lu summed", marked, summed);
    {
        hs_log lg;
        hs_log_init(&lg, fd);
        /* A process whose clock reading is a second behind counts in the
         * window that is open: it must not open an old one again. */
        hs_logf_shared(&lg, &sh, 1999, "reject late");
        tally(&lines, &marked, &summed);
        CHECK_MSG(marked == HS_LOG_PER_SECOND, "%d lines", marked);
        /* The next second: the first line is the sum of all suppressed. */
        hs_logf_shared(&lg, &sh, 2001, "reject next");
        tally(&lines, &marked, &summed);
        CHECK_MSG(marked == HS_LOG_PER_SECOND + 1, "%d lines", marked);
        CHECK_MSG(summed == (unsigned long)(NPROC * NLINE + 1 - HS_LOG_PER_SECOND),
                  "%lu summed", summed);
        /* The clock set back an hour: a new window at once, not silence
         * until the old second comes round again. */
        {
            int k, before = marked;
            for (k = 0; k < HS_LOG_PER_SECOND; k++)
                hs_logf_shared(&lg, &sh, 2001, "reject fill %d", k);
            hs_logf_shared(&lg, &sh, 2001 - 3600, "reject after the clock went back");
            tally(&lines, &marked, &summed);
            CHECK_MSG(marked == before + HS_LOG_PER_SECOND, "%d lines", marked - before);
        }
        hs_log_destroy(&lg);
    }
    /* NULL: the per-process limiter */
    {
        hs_log lg;
        int before;
        hs_log_init(&lg, fd);
        tally(&lines, &before, &summed);
        hs_logf_shared(&lg, NULL, 2001, "reject own");
        tally(&lines, &marked, &summed);
        CHECK(marked == before + 1);
        hs_log_destroy(&lg);
    }
    munmap(words, 2 * sizeof(uint64_t));
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    test_per_process(fd);
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return 1;
    close(fd);
    fd = open(path, O_WRONLY | O_APPEND);
    test_shared(fd);
    close(fd);
    unlink(path);
    return T_END();
}
