/*
 * reaper.c - run the web server for bench/run.sh as a child subreaper, so
 * the FastCGI processes it spawns are reaped (no zombies) and none
 * outlives a run: the processes still running GRACE seconds after the
 * server exited are killed, and counted on stderr.
 *
 *   reaper GRACE COMMAND [ARG...]
 *
 * SIGTERM, SIGINT and SIGHUP are passed on to COMMAND. Exits with
 * COMMAND's status. Prints "reaper: N processes still running ..." when
 * it had to kill some (run.sh flags the run).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int s) { got = s; }

/* Send sig to each of our children (those reparented to us too). */
static int signal_children(int sig)
{
    char path[64], buf[4096];
    FILE *f;
    int n = 0;
    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    if ((f = fopen(path, "r")) == NULL) return 0;
    while (fscanf(f, "%4095s", buf) == 1) {
        pid_t p = (pid_t)atol(buf);
        if (p > 0 && kill(p, sig) == 0) n++;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    double grace;
    pid_t child, p;
    int st, status = 1, waited = 0, ticks;

    if (argc < 3) {
        fprintf(stderr, "usage: reaper GRACE COMMAND [ARG...]\n");
        return 2;
    }
    grace = atof(argv[1]);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) perror("reaper: PR_SET_CHILD_SUBREAPER");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    child = fork();
    if (child < 0) { perror("reaper: fork"); return 1; }
    if (child == 0) {
        sa.sa_handler = SIG_DFL;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        execvp(argv[2], argv + 2);
        perror("reaper: exec");
        _exit(127);
    }
    /* The server's life: reap whatever dies, pass signals on. */
    while (!waited) {
        p = waitpid(-1, &st, 0);
        if (p < 0 && errno == EINTR) {
            if (got) { kill(child, got); got = 0; }
            continue;
        }
        if (p < 0) break;
        if (p == child) {
            waited = 1;
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    /* Then its orphans: GRACE seconds to exit by themselves. */
    for (ticks = 0; ; ticks++) {
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            ;
        if (p < 0 && errno == ECHILD) return status;
        if (ticks * 0.05 >= grace) break;
        {
            struct timespec d = { 0, 50000000L };
            nanosleep(&d, NULL);
        }
    }
    {
        int n = signal_children(SIGKILL);
        if (n > 0)
            fprintf(stderr, "reaper: %d processes still running %.1f s after the server exited: killed\n",
                    n, grace);
    }
    while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
        ;
    return status;
}
