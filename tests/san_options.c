/*
 * Linked only into SANITIZE=1 builds: default options for ASan, UBSan
 * and LSan, so that processes started by a web server (which passes them
 * no environment of ours) still write their reports where tests/run.sh
 * looks for them, and keep going after one report so every one is seen.
 */
#ifndef HS_SAN_DIR
#define HS_SAN_DIR "/tmp/hookspool-san"
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__lsan_default_options(void);

const char *__asan_default_options(void)
{
    /* verify_asan_link_order=0: the fault-injection tests LD_PRELOAD a
     * shim in front of the runtime. */
    return "log_path=" HS_SAN_DIR "/asan:detect_leaks=1:verify_asan_link_order=0:"
           "detect_stack_use_after_return=1";
}

const char *__ubsan_default_options(void)
{
    return "log_path=" HS_SAN_DIR "/ubsan:print_stacktrace=1";
}

const char *__lsan_default_options(void)
{
    return "log_path=" HS_SAN_DIR "/lsan";
}
