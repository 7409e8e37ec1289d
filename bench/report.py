#!/usr/bin/env python3
"""
report.py - bench/run.sh's report: META RESULTS [PERF] -> Markdown on stdout.

META holds "name=value" lines about the machine and the parameters;
RESULTS one line per measurement, "kind name=value ..." (see run.sh's
rec calls). Medians over the repetitions; ratios are of medians. Targets
are informational: PASS/MISS beside the measurement they are judged on.
Python 3 standard library only.
"""
import os
import statistics
import sys

FCGI_ROWS = [
    ("hs_never", "hookspool.fcgi, fsync=never, dedup off"),
    ("hs_always", "hookspool.fcgi, fsync=always, dedup off"),
    ("hs_dedup", "hookspool.fcgi, fsync=never, dedup on"),
    ("hs_default", "hookspool.fcgi, fsync=always, dedup on (the default)"),
    ("hs_storm", "hookspool.fcgi, the default, retry storm (every event twice)"),
    ("null", "(b) null FastCGI responder"),
    ("null_flush", "(b') null responder + durable append (bench/null_flush.c)"),
    ("php", "(c) PHP receiver.php, php-cgi"),
]
CGI_ROWS = [
    ("hs_cgi_dyn", "hookspool.fcgi as CGI, dynamic"),
    ("hs_cgi_static", "hookspool.fcgi as CGI, static"),
    ("triv_dyn", "trivial C CGI, dynamic"),
    ("triv_static", "trivial C CGI, static"),
    ("hmac_static", "trivial C CGI + OpenSSL HMAC check, static (bench/hmac_cgi.c)"),
]
NOISE_CORES = 0.10      # other processes' CPU during a run, in cores, worth a note


def parse_kv(tokens):
    d = {}
    for t in tokens:
        if "=" in t:
            k, v = t.split("=", 1)
            d[k] = v
    return d


def num(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0, unit=""):
    if x is None:
        return "n/a"
    return ("{:,.%df}" % nd).format(x) + unit


def verdict(ok, flagged=False):
    v = "PASS" if ok else "MISS"
    return v + ("*" if flagged else "")


def cpu_mb(r):
    """A handler row's MB/s per CPU second."""
    if r.get("cpu_mb_per_s"):
        return num(r.get("cpu_mb_per_s"))
    cpu = num(r.get("cpu_s"))
    return num(r.get("bytes")) * num(r.get("iters")) / cpu / 1e6 if cpu > 0 else None


def main(argv):
    meta = {}
    for line in open(argv[1], encoding="utf-8", errors="replace"):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            meta[k] = v
    rows = []
    for line in open(argv[2], encoding="utf-8", errors="replace"):
        parts = line.split()
        if parts:
            rows.append((parts[0], parse_kv(parts[1:])))
    perf = ""
    if len(argv) > 3 and os.path.exists(argv[3]):
        perf = open(argv[3], encoding="utf-8", errors="replace").read()
    tck = num(meta.get("clk_tck"), 100.0)
    params = parse_kv(meta.get("params", "").split())
    conns = int(num(params.get("conns"), 16))
    out = []
    w = out.append

    # ---------------------------------------------------------- per run
    def run_view(r):
        req = num(r.get("requests"))
        dur = num(r.get("duration_us")) / 1e6 or 1.0
        serr = int(num(r.get("status_errors")))
        sock = sum(int(num(r.get(k))) for k in ("connect", "read", "write", "timeout"))
        wrapped = int(num(r.get("wrapped")))
        ok2xx = req - serr
        lines = int(num(r.get("lines")))
        flags = []
        if serr:
            flags.append("%d non-2xx" % serr)
        if sock:
            flags.append("%d socket errors" % sock)
        if wrapped:
            flags.append("pool reused %d times" % wrapped)
        hung = int(num(r.get("hung")))
        if hung:
            flags.append("%d processes hung at stop" % hung)
        # A retry storm delivers every event twice: half the 2xx are
        # duplicates and append nothing.
        want = ok2xx // 2 - conns if r.get("cfg") in ("hs_storm", "base_hs_storm") else ok2xx
        if r.get("store") == "yes" and not (want <= lines <= req + conns):
            flags.append("spool lines %d vs %d 2xx" % (lines, ok2xx))
        window = num(r.get("window_us")) / 1e6 or dur      # wall time between the CPU readings
        if "foreign_ticks" in r:       # other sessions' processes
            foreign = num(r.get("foreign_ticks")) / tck / window
        else:                          # older results: everything but server and client
            foreign = (num(r.get("sys_busy")) - num(r.get("server_ticks")) - num(r.get("client_ticks"))) / tck / window
        return {
            "cfg": r.get("cfg"), "rep": r.get("rep"), "rps": num(r.get("rps")),
            "p50": num(r.get("p50_us")) / 1000, "p99": num(r.get("p99_us")) / 1000,
            "cpu": num(r.get("server_ticks")) / tck * 1e6 / req if req else None,
            "client": num(r.get("client_ticks")) / tck * 1e6 / req if req else None,
            "foreign": max(foreign, 0.0), "steal": num(r.get("sys_steal")) / tck / window,
            "req": req, "serr": serr, "sock": sock, "lines": lines, "store": r.get("store"),
            "flags": flags, "mem": r.get("mem", ""),
        }

    fcgi = [run_view(r) for k, r in rows if k == "fcgi"]
    cgi = [run_view(r) for k, r in rows if k == "cgi"]

    def summary(runs, cfg):
        rs = [r for r in runs if r["cfg"] == cfg]
        if not rs:
            return None
        return {
            "n": len(rs), "rps": med([r["rps"] for r in rs]),
            "rps_min": min(r["rps"] for r in rs), "rps_max": max(r["rps"] for r in rs),
            "p50": med([r["p50"] for r in rs]), "p99": med([r["p99"] for r in rs]),
            "cpu": med([r["cpu"] for r in rs]), "client": med([r["client"] for r in rs]),
            "serr": sum(r["serr"] for r in rs), "sock": sum(r["sock"] for r in rs),
            "flagged": [r for r in rs if r["flags"]],
            "noisy": sum(1 for r in rs if r["foreign"] > NOISE_CORES),
            "foreign": med([r["foreign"] for r in rs]),
        }

    S = {cfg: summary(fcgi, cfg) for cfg, _ in FCGI_ROWS}
    C = {cfg: summary(cgi, cfg) for cfg, _ in CGI_ROWS}
    fs = {r.get("tag"): r for k, r in rows if k == "fsync"}
    disk_rates = [num(r.get("per_s")) for r in fs.values()]
    disk = statistics.mean(disk_rates) if disk_rates else None

    quick = meta.get("quick") == "1"
    w("# hookspool benchmark%s" % (" (QUICK MODE: short runs, reduced sizes; not for the record)" if quick else ""))
    w("")
    w("Written by `bench/run.sh` (`make bench`) on %s. Every number below was measured in this one run." % meta.get("date", "?"))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in [("cpu", "CPU"), ("nproc", "nproc"), ("cpu_flags", "CPU flags of note"), ("mem", "memory"),
                     ("kernel", "kernel"), ("virt", "virtualisation"), ("spool_dir", "spool directory"),
                     ("spool_fs", "its filesystem (source, type, mount options)"),
                     ("busy_at_start", "CPU used by other processes at the start (cores)"), ("tmpfs", "tmpfs for in-process runs"),
                     ("lighttpd", "lighttpd"), ("wrk", "wrk"), ("php", "PHP"), ("php_opcache", "opcache.enable (php-cgi)"),
                     ("openssl", "OpenSSL"), ("cc", "compiler"), ("program", "hookspool measured"),
                     ("params", "parameters")]:
        w("| %s | %s |" % (label, meta.get(k, "?").replace("|", "\\|")))
    w("")
    w("The load generator (wrk, %s thread(s), %d connections) runs on the same machine as the server, "
      "so client and server share its %s cores (\"wrk µs/req\" in the table of every run is wrk's CPU, loading its pool of events included). "
      "\"other cores\" is the CPU that processes of other sessions (other users' builds and tests) used during a measurement, in cores; "
      "a measurement with more than %.2f is marked noisy." % (params.get("wrk_threads", "?"), conns, meta.get("nproc", "?"), NOISE_CORES))
    w("")

    # ---------------------------------------------------------- FastCGI
    w("## 1. FastCGI under lighttpd (%s processes each, %s s runs, %s repetitions alternating)" %
      (params.get("procs", "?"), params.get("seconds", "?"), params.get("reps", "?")))
    w("")
    w("Medians over the repetitions (req/s range in brackets). CPU is the server side's "
      "(lighttpd and its FastCGI children, utime+stime) per request. Ratios are of the medians' req/s.")
    w("")
    w("| configuration | req/s | p50 ms | p99 ms | server CPU µs/req | × null (b) req/s | × PHP (c) req/s | non-2xx | socket errors | flags |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    nb, nc = S.get("null"), S.get("php")
    for cfg, label in FCGI_ROWS:
        s = S.get(cfg)
        if not s:
            continue
        rb = s["rps"] / nb["rps"] if nb and nb["rps"] else None
        rc = s["rps"] / nc["rps"] if nc and nc["rps"] else None
        flag = "; ".join(sorted({f for r in s["flagged"] for f in r["flags"]}))
        if s["noisy"]:
            flag = (flag + "; " if flag else "") + "%d noisy run(s)" % s["noisy"]
        w("| %s | %s [%s–%s] | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(s["rps"]), fmt(s["rps_min"]), fmt(s["rps_max"]), fmt(s["p50"], 2), fmt(s["p99"], 2),
            fmt(s["cpu"], 1), fmt(rb, 2) if cfg != "null" else "1", fmt(rc, 2) if cfg != "php" else "1",
            s["serr"], s["sock"], flag or "—"))
    w("")
    B = {cfg: summary(fcgi, "base_" + cfg) for cfg, _ in FCGI_ROWS}
    if any(B.values()):
        w("Against the base (`BENCH_BASE`: %s), each row measured beside the same row of the base, "
          "the order swapped every repetition. The pairs are the figure to read: each compares two runs "
          "a minute apart, where the medians compare runs spread over the whole series. "
          "(The rows above and the targets below are the build measured, without the base.)" % meta.get("base", "?"))
        w("")
        w("| configuration | base req/s | req/s | pairs: req/s ÷ base's | median pair | base / measured server CPU µs/req | base / measured p99 ms |")
        w("|---|---|---|---|---|---|---|")
        for cfg, label in FCGI_ROWS:
            s, b = S.get(cfg), B.get(cfg)
            if not s or not b:
                continue
            heads = {r["rep"]: r["rps"] for r in fcgi if r["cfg"] == cfg}
            pairs = [heads[r["rep"]] / r["rps"] for r in fcgi
                     if r["cfg"] == "base_" + cfg and r["rep"] in heads and r["rps"]]
            w("| %s | %s [%s–%s] | %s [%s–%s] | %s | %s | %s / %s | %s / %s |" % (
                label, fmt(b["rps"]), fmt(b["rps_min"]), fmt(b["rps_max"]),
                fmt(s["rps"]), fmt(s["rps_min"]), fmt(s["rps_max"]),
                " ".join(fmt(x, 2) for x in pairs) or "—", fmt(med(pairs), 2) if pairs else "—",
                fmt(b["cpu"], 1), fmt(s["cpu"], 1), fmt(b["p99"], 2), fmt(s["p99"], 2)))
        w("")
    w("Disk: single-writer append 1 KiB + fdatasync on the spool's filesystem (`bench/fsync_rate`):")
    w("")
    w("| when | flushes/s | p50 µs | p99 µs | max µs | other cores |")
    w("|---|---|---|---|---|---|")
    for tag in ("before", "after"):
        r = fs.get(tag)
        if r:
            w("| %s the FastCGI series | %s | %s | %s | %s | %s |" % (tag, fmt(num(r.get("per_s"))), r.get("p50_us"), r.get("p99_us"),
                                                                r.get("max_us"), r.get("other_cores", "n/a")))
    w("")
    if S.get("hs_always") and disk:
        w("hookspool with fsync=always answered %s req/s = %s× the disk's single-writer flush rate (mean %s/s)." %
          (fmt(S["hs_always"]["rps"]), fmt(S["hs_always"]["rps"] / disk, 2), fmt(disk)))
        w("")
    mems = [(r["cfg"], r["mem"]) for r in fcgi if r["mem"]]
    if mems:
        w("Private memory of each FastCGI process at the end of its run (KiB, Private_Dirty/Private_Clean/Rss, median over runs), "
          "and its threads (entries in /proc/PID/task; hookspool's are its worker threads and one signal thread):")
        w("")
        w("| configuration | Private_Dirty | Private_Clean | Rss | threads |")
        w("|---|---|---|---|---|")
        # The base's rows (BENCH_BASE) under the build's, as "(base)".
        rows_mem = FCGI_ROWS + [("base_" + c, l + " (base)") for c, l in FCGI_ROWS]
        for cfg, label in rows_mem:
            vals = []
            for c, m in mems:
                if c != cfg:
                    continue
                for p in m.split(";"):
                    t = p.split(",")
                    if len(t) == 4:
                        vals.append([int(num(x)) for x in t])
            if vals:
                w("| %s | %s | %s | %s | %s |" % (label, fmt(med([v[0] for v in vals])), fmt(med([v[1] for v in vals])),
                                                 fmt(med([v[2] for v in vals])),
                                                 "/".join(sorted({str(v[3]) for v in vals}))))
        w("")

    # ---------------------------------------------------------- CGI
    w("## 2. CGI mode under lighttpd mod_cgi (%s s runs, fsync=never, dedup off)" % params.get("cgi_seconds", "?"))
    w("")
    w("| program | req/s | p50 ms | p99 ms | server CPU µs/req (lighttpd + CGI processes) | non-2xx | socket errors | flags |")
    w("|---|---|---|---|---|---|---|---|")
    for cfg, label in CGI_ROWS:
        s = C.get(cfg)
        if not s:
            continue
        flag = "; ".join(sorted({f for r in s["flagged"] for f in r["flags"]}))
        if s["noisy"]:
            flag = (flag + "; " if flag else "") + "%d noisy run(s)" % s["noisy"]
        w("| %s | %s [%s–%s] | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(s["rps"]), fmt(s["rps_min"]), fmt(s["rps_max"]), fmt(s["p50"], 2), fmt(s["p99"], 2),
            fmt(s["cpu"], 1), s["serr"], s["sock"], flag or "—"))
    w("")
    for a, b, what in (("hs_cgi_static", "triv_static", "static"), ("hs_cgi_dyn", "triv_dyn", "dynamic")):
        if C.get(a) and C.get(b) and C[b]["cpu"] and C[a]["rps"]:
            w("- %s: hookspool costs %s× the trivial CGI's CPU per request, and %s× its time per request (1/req/s)." %
              (what, fmt(C[a]["cpu"] / C[b]["cpu"], 2), fmt(C[b]["rps"] / C[a]["rps"], 2)))
    h, t, f = C.get("hs_cgi_static"), C.get("triv_static"), C.get("hmac_static")
    if h and t and f and t["cpu"] and f["cpu"]:
        w("- OpenSSL's part (static): the trivial CGI with hookspool's OpenSSL set-up and one HMAC check costs %s× the "
          "trivial CGI's CPU per request; hookspool costs %s× that floor." %
          (fmt(f["cpu"] / t["cpu"], 2), fmt(h["cpu"] / f["cpu"], 2)))
    w("")

    # ---------------------------------------------------------- memory
    memr = [r for k, r in rows if k == "mem"]
    mem_ok = None
    if memr:
        w("## 3. Private memory of the hookspool.fcgi processes (dedup on, fsync=never)")
        w("")
        w("From /proc/PID/smaps_rollup of each of lighttpd's hookspool.fcgi children, after the spool had accepted the number of events shown.")
        w("")
        w("| accepted | process | Private_Dirty KiB | Private_Clean KiB | Rss KiB |")
        w("|---|---|---|---|---|")
        for r in memr:
            w("| %s | %s | %s | %s | %s |" % (fmt(num(r.get("accepted"))), r.get("proc"), r.get("private_dirty_kib"),
                                             r.get("private_clean_kib"), r.get("rss_kib")))
        w("")
        targets = sorted({int(num(r.get("target"))) for r in memr})
        early, late = (targets[-2], targets[-1]) if len(targets) >= 2 else (None, None)
        by = {}
        for r in memr:
            by.setdefault(int(num(r.get("target"))), {})[r.get("proc")] = int(num(r.get("private_dirty_kib")))
        if late is not None:
            worst = max(by[late].values())
            growth = max(by[late].get(p, 0) - by[early].get(p, 0) for p in by[late])
            mem_ok = (worst, growth)
            w("Largest Private_Dirty after the last step: %s KiB; largest growth between the last two steps: %+d KiB." % (fmt(worst), growth))
            w("")

    # ---------------------------------------------------------- in-process
    hand = [r for k, r in rows if k == "handler"]
    parts = [r for k, r in rows if k == "parts"]
    ossl = [num(r.get("sha256_1m", "").rstrip("k")) for k, r in rows if k == "openssl"]   # 1000s of bytes/s
    ossl_mb = ossl[0] / 1000 if ossl and ossl[0] else None
    big = None
    if hand:
        w("## 4. In-process handler throughput (bench/handler_bench, hs_ctx_config + hs_handle, fsync=never, dedup off)")
        w("")
        w("MB = 10^6 bytes of request body, per second of wall time and per second of the process's CPU time (user+system; "
          "`openssl speed` divides by CPU time too, and CPU time is what other processes on a shared machine disturb least). "
          "\"signature\" and \"minify\" time `hs_sig_verify` and `hs_json_minify` alone over the same body (wall time).")
        w("")
        w("| spool on | body | µs/request | MB/s of body | MB/s per CPU second | signature alone MB/s | minify alone MB/s | other cores |")
        w("|---|---|---|---|---|---|---|---|")
        for r in hand:
            p = next((q for q in parts if q.get("where") == r.get("where") and q.get("bytes") == r.get("bytes")), {})
            w("| %s | %s B | %s | %s | %s | %s | %s | %s |" % (r.get("where"), fmt(num(r.get("bytes"))), fmt(num(r.get("us_per_req")), 1),
                                                  fmt(num(r.get("mb_per_s")), 1), fmt(cpu_mb(r), 1), fmt(num(p.get("sig_mb_per_s")), 1),
                                                  fmt(num(p.get("minify_mb_per_s")), 1), r.get("other_cores", "n/a")))
        w("")
        if ossl_mb:
            oc = next((r.get("other_cores") for k, r in rows if k == "openssl"), None)
            w("`openssl speed -evp sha256 -bytes 1048576`: %s MB/s%s." % (fmt(ossl_mb, 1), " (other cores: %s)" % oc if oc else ""))
            w("")
        floors = [r for k, r in rows if k == "floor"]
        if floors and ossl_mb:
            budget = 2 * 1048576 / ossl_mb     # µs per 1 MiB body at half SHA-256's speed
            w("**The floor for 1 MiB bodies** (bench/json_floor.cc, simdjson %s on this CPU). The target, half of SHA-256's speed, "
              "is %s µs per 1 MiB body. The HMAC alone is one SHA-256 pass over the body; whatever else the handler does (validate, "
              "minify, write the line) must fit in what is left. simdjson's DOM parse is the fastest full validation Debian ships; "
              "its minify removes whitespace without validating; the write appends the minified bytes to a file where the spool is." %
              (floors[0].get("impl", "?"), fmt(budget, 1)))
            w("")
            w("| spool on | HMAC alone µs (handler's signature check) | simdjson validation µs | write µs | sum µs | share of the budget | simdjson minify µs | other cores |")
            w("|---|---|---|---|---|---|---|---|")
            for f in floors:
                p = next((q for q in parts if q.get("where") == f.get("where") and q.get("bytes") == "1048576"), {})
                sig, par, wr = num(p.get("sig_us"), None), num(f.get("parse_us"), None), num(f.get("write_us"), None)
                tot = sig + par + wr if None not in (sig, par, wr) else None
                w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (f.get("where"), fmt(sig, 1), fmt(par, 1), fmt(wr, 1), fmt(tot, 1),
                                                           "%.0f%%" % (100 * tot / budget) if tot else "n/a",
                                                           fmt(num(f.get("minify_us")), 1), f.get("other_cores", "n/a")))
            w("")
        pick = [r for r in hand if r.get("bytes") == "1048576" and r.get("where") == "tmpfs"] or \
               [r for r in hand if r.get("bytes") == "1048576"]
        if pick:
            big = (cpu_mb(pick[0]), pick[0].get("where"), num(pick[0].get("mb_per_s")))

    # ---------------------------------------------------------- append
    app = [r for k, r in rows if k == "append"]
    fill = next((r for k, r in rows if k == "fill"), None)
    app_ratio = None
    if app:
        w("## 5. Append cost with dedup on: a spool with %s lines and keys against an empty one" % (fmt(num(fill.get("lines"))) if fill else "?"))
        w("")
        if fill:
            w("Fill: %s lines in %s sealed segments (%s bytes), %s keys in state.db, made in %s s (bench/handler_bench fill: lines as "
              "lib/handler.c writes them, keys hashed by the library, checked against a line the handler wrote and a duplicate answer)." %
              (fmt(num(fill.get("lines"))), fill.get("segments"), fmt(num(fill.get("bytes"))), fmt(num(fill.get("keys"))), fill.get("seconds")))
            w("")
        w("Each row: %s appends of distinct events through hs_handle (fsync=never) after 100 untimed ones, in a fresh process." % params.get("appends", "?"))
        w("")
        w("| spool | rep | µs/append mean | p50 | p99 | max | CPU µs/append | non-200 | duplicates | other cores |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for r in app:
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (r.get("spool"), r.get("rep"), r.get("us_mean"), r.get("us_p50"),
                                                            r.get("us_p99"), r.get("us_max"), r.get("cpu_us"), r.get("non200"),
                                                            r.get("duplicates"), r.get("other_cores", "n/a")))
        e = med([num(r.get("us_mean")) for r in app if r.get("spool") == "empty"])
        f = med([num(r.get("us_mean")) for r in app if r.get("spool") == "full"])
        e50 = med([num(r.get("us_p50")) for r in app if r.get("spool") == "empty"])
        f50 = med([num(r.get("us_p50")) for r in app if r.get("spool") == "full"])
        if e and f:
            app_ratio = f / e
            w("")
            w("Median of the means: empty %s µs, full %s µs: ratio %s (p50: %s vs %s µs, ratio %s)." %
              (fmt(e, 1), fmt(f, 1), fmt(app_ratio, 2), fmt(e50, 1), fmt(f50, 1), fmt(f50 / e50 if e50 else None, 2)))
        w("")

    # ---------------------------------------------------------- targets
    w("## Targets (informational: the run never fails on them)")
    w("")
    w("PASS*/MISS*: judged on runs that were flagged (errors or a spool/answer mismatch); see the flags above.")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    hn, ha = S.get("hs_never"), S.get("hs_always")
    if hn and nb and nb["rps"]:
        r = hn["rps"] / nb["rps"]
        w("| fsync=never ≥ 0.9× the null responder's req/s | %s / %s = %s× | %s |" %
          (fmt(hn["rps"]), fmt(nb["rps"]), fmt(r, 2), verdict(r >= 0.9, bool(hn["flagged"] or nb["flagged"]))))
    if hn and nb and nc and None not in (hn["cpu"], nb["cpu"], nc["cpu"]):
        a, p = hn["cpu"] - nb["cpu"], nc["cpu"] - nb["cpu"]
        w("| hookspool's CPU/request above the null's ≤ 1/5 of PHP's above the null | hookspool +%s µs, PHP +%s µs: %s of PHP's | %s |" %
          (fmt(a, 1), fmt(p, 1), fmt(a / p, 2) if p > 0 else "n/a", verdict(p > 0 and a <= p / 5, bool(hn["flagged"] or nb["flagged"] or nc["flagged"]))))
    hd, hdef, hst = S.get("hs_dedup"), S.get("hs_default"), S.get("hs_storm")
    if hdef and ha and ha["rps"]:
        r = hdef["rps"] / ha["rps"]
        w("| the default (fsync=always, dedup on) ≥ 0.9× fsync=always without dedup | %s / %s = %s× | %s |" %
          (fmt(hdef["rps"]), fmt(ha["rps"]), fmt(r, 2), verdict(r >= 0.9, bool(hdef["flagged"] or ha["flagged"]))))
    if hdef and nc and nc["rps"]:
        r = hdef["rps"] / nc["rps"]
        w("| the default ≥ the PHP receiver's req/s | %s / %s = %s× | %s |" %
          (fmt(hdef["rps"]), fmt(nc["rps"]), fmt(r, 2), verdict(r >= 1, bool(hdef["flagged"] or nc["flagged"]))))
    if hd and hn and hn["rps"]:
        r = hd["rps"] / hn["rps"]
        w("| fsync=never with dedup ≥ 0.8× without | %s / %s = %s× | %s |" %
          (fmt(hd["rps"]), fmt(hn["rps"]), fmt(r, 2), verdict(r >= 0.8, bool(hd["flagged"] or hn["flagged"]))))
    for cfg, label in FCGI_ROWS:
        s_ = S.get(cfg)
        if cfg.startswith("hs_") and s_ and s_["p50"]:
            r = s_["p99"] / s_["p50"]
            w("| %s: p99 ≤ 5× p50 | %s / %s ms = %s× | %s |" %
              (label, fmt(s_["p99"], 2), fmt(s_["p50"], 2), fmt(r, 1), verdict(r <= 5, bool(s_["flagged"]))))
    if hst and hdef and None not in (hst["cpu"], hdef["cpu"]):
        # Half the storm's requests are duplicates: their mean CPU is at
        # most the default's exactly when a duplicate costs no more.
        w("| a duplicate costs no more server CPU than an accepted event | storm %s µs/req (half duplicates) vs the default %s µs/req | %s |" %
          (fmt(hst["cpu"], 1), fmt(hdef["cpu"], 1), verdict(hst["cpu"] <= hdef["cpu"], bool(hst["flagged"] or hdef["flagged"]))))
    if ha and disk:
        r = ha["rps"] / disk
        w("| fsync=always ≥ 3× the disk's single-writer flush rate | %s req/s / %s flushes/s = %s× | %s |" %
          (fmt(ha["rps"]), fmt(disk), fmt(r, 2), verdict(r >= 3, bool(ha["flagged"]))))
    if mem_ok:
        worst, growth = mem_ok
        w("| Private_Dirty ≤ 2 MiB per process and flat (growth ≤ 64 KiB from the %s-request to the %s-request reading) | max %s KiB, growth %+d KiB | %s |" %
          (params.get("mem", "?").split("/")[0], params.get("mem", "?").split("/")[-1], fmt(worst), growth, verdict(worst <= 2048 and growth <= 64)))
    cs, ts = C.get("hs_cgi_static"), C.get("triv_static")
    if cs and ts and ts["cpu"]:
        r = cs["cpu"] / ts["cpu"]
        w("| CGI mode, static build ≤ 2× a trivial static C CGI (server CPU per request) | %s / %s µs = %s× (time per request: %s×) | %s |" %
          (fmt(cs["cpu"], 1), fmt(ts["cpu"], 1), fmt(r, 2), fmt(ts["rps"] / cs["rps"], 2) if cs["rps"] else "n/a",
           verdict(r <= 2, bool(cs["flagged"] or ts["flagged"]))))
    if big and big[0] and ossl_mb:
        r = big[0] / ossl_mb
        w("| large bodies (1 MiB, spool on %s) ≥ half of OpenSSL's SHA-256 speed (both per CPU second) | %s / %s MB/s = %s× (per wall second: %s MB/s) | %s |" %
          (big[1], fmt(big[0], 1), fmt(ossl_mb, 1), fmt(r, 2), fmt(big[2], 1), verdict(r >= 0.5)))
    if app_ratio is not None:
        w("| append cost at %s lines and keys within 1.5× of the empty spool's | %s× | %s |" %
          (fmt(num(fill.get("lines"))) if fill else "?", fmt(app_ratio, 2), verdict(app_ratio <= 1.5)))
    w("")
    nf = S.get("null_flush")
    if nf and nf["rps"]:
        # Not targets: what a receiver that does nothing but append each
        # body and flush it before answering (hookspool's group commit,
        # its default threads) reaches on this machine. A target above
        # these is above any receiver that keeps promise 1.
        w("### Floors: the null responder that flushes each event before answering (b')")
        w("")
        w("| comparison | measured |")
        w("|---|---|")
        if disk:
            w("| (b') against the disk's single-writer flush rate | %s req/s / %s flushes/s = %s× |" %
              (fmt(nf["rps"]), fmt(disk), fmt(nf["rps"] / disk, 2)))
        if nb and nb["rps"]:
            w("| (b') against the null responder (b) | %s / %s = %s× |" %
              (fmt(nf["rps"]), fmt(nb["rps"]), fmt(nf["rps"] / nb["rps"], 2)))
        for key, label in (("hs_always", "fsync=always without dedup"), ("hs_default", "the default")):
            s_ = S.get(key)
            if s_ and s_["rps"]:
                w("| %s against (b') | %s / %s = %s× (server CPU %s against %s µs/req) |" %
                  (label, fmt(s_["rps"]), fmt(nf["rps"]), fmt(s_["rps"] / nf["rps"], 2),
                   fmt(s_["cpu"], 1), fmt(nf["cpu"], 1)))
        if nc and nc["rps"]:
            w("| PHP (c), which never flushes, against (b') | %s / %s = %s× |" %
              (fmt(nc["rps"]), fmt(nf["rps"]), fmt(nc["rps"] / nf["rps"], 2)))
        w("")

    # ---------------------------------------------------------- status
    st = {}
    for k, r in rows:
        if k == "status":
            st[(int(num(r.get("segments"))), r.get("what"))] = r
    if st:
        segs = sorted({s for s, _ in st})
        w("## The status with segments waiting in ready/")
        w("")
        w("GET latency of the status (with the token), FastCGI and plain CGI (a new process "
          "per GET); POST latency alone and under a flood of GETs, with the same number of "
          "connections on each side. p50 / p99 in ms; non-2xx counted.")
        w("")
        w("| segments in ready/ | GET FastCGI | GET CGI | POST alone | POST under the GET flood | GETs/s in the flood |")
        w("|---|---|---|---|---|---|")

        def lat(r):
            if r is None:
                return "n/a"
            e = int(num(r.get("status_errors")))
            return "%s / %s%s" % (fmt(num(r.get("p50_us")) / 1000, 2), fmt(num(r.get("p99_us")) / 1000, 2),
                                   " (%d non-2xx)" % e if e else "")
        for s in segs:
            g = st.get((s, "get_flood"))
            w("| %s | %s | %s | %s | %s | %s |" % (
                fmt(s), lat(st.get((s, "get_fcgi"))), lat(st.get((s, "get_cgi"))),
                lat(st.get((s, "post_alone"))), lat(st.get((s, "post_flood"))),
                fmt(num(g.get("rps"))) if g else "n/a"))
        w("")
        if len(segs) >= 2:
            lo, hi = segs[0], segs[-1]
            for what, label in (("get_fcgi", "status (FastCGI) p50"), ("get_cgi", "status (CGI) p50"),
                                ("post_flood", "POST p50 under a GET flood")):
                a, b = st.get((lo, what)), st.get((hi, what))
                if a and b and num(a.get("p50_us")) > 0:
                    r = num(b.get("p50_us")) / num(a.get("p50_us"))
                    w("- %s with %s segments within 2× of with %s: %s× %s" % (
                        label, fmt(hi), fmt(lo), fmt(r, 2), verdict(r <= 2)))
            w("")

    # ---------------------------------------------------------- raw
    w("## Every run")
    w("")
    w("| kind | configuration | rep | req/s | p50 ms | p99 ms | server µs/req | wrk µs/req | other cores | steal cores | requests | non-2xx | socket err | spool lines | flags |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, runs in (("fcgi", fcgi), ("cgi", cgi)):
        for r in runs:
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                kind, r["cfg"], r["rep"], fmt(r["rps"]), fmt(r["p50"], 2), fmt(r["p99"], 2), fmt(r["cpu"], 1),
                fmt(r["client"], 1), fmt(r["foreign"], 2), fmt(r["steal"], 2), fmt(r["req"]), r["serr"], r["sock"],
                fmt(r["lines"]) if r["store"] == "yes" else "—", "; ".join(r["flags"]) or "—"))
    w("")
    if perf:
        w("## Where hookspool's CPU goes (perf) and its system calls (strace)")
        w("")
        w("```")
        w(perf.rstrip())
        w("```")
        w("")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
