/*
 * t.h - the smallest unit-test harness that does the job.
 *
 * CHECK(cond) counts a pass or prints the failing line and counts a
 * failure; T_END() prints "N passed, N failed" and returns the exit code
 * from main (non-zero on any failure). tests/run.sh sums these lines.
 */
#ifndef HS_T_H
#define HS_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond) do { \
    if (cond) t_pass++; \
    else { t_fail++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    if (cond) t_pass++; \
    else { t_fail++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_STR(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "got [%s] want [%s]", (a), (b))

#define T_END() (printf("%d passed, %d failed\n", t_pass, t_fail), t_fail != 0)

#endif
