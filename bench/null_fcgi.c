/*
 * null_fcgi.c - the ceiling for hookspool.fcgi: a FastCGI responder
 * (libfcgi FCGX_* API, like cgi/hookspool_fcgi.c) that reads the whole
 * body and answers 200 with a tiny JSON body. No signature, no parsing,
 * no disk. Built by bench/run.sh into build/bench/null_fcgi.
 */
#include <signal.h>
#include <stdio.h>

#include <fcgiapp.h>

int main(void)
{
    static const char answer[] =
        "Status: 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 12\r\n"
        "\r\n"
        "{\"ok\":true}\n";
    static char buf[65536];
    FCGX_Request rq;

    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0 || FCGX_InitRequest(&rq, 0, 0) != 0) {
        fputs("null_fcgi: cannot initialise FastCGI\n", stderr);
        return 1;
    }
    while (FCGX_Accept_r(&rq) >= 0) {
        /* Read the whole body, as a real receiver must before answering. */
        while (FCGX_GetStr(buf, (int)sizeof(buf), rq.in) > 0)
            ;
        FCGX_PutStr(answer, (int)sizeof(answer) - 1, rq.out);
        FCGX_Finish_r(&rq);
    }
    return 0;
}
