#!/usr/bin/env python3
"""No include cycles between the modules of lib/.

A module is a .c/.h pair (lib/NAME.c, lib/NAME.h). Module A depends on
module B when lib/A.c or lib/A.h includes "B.h" (B != A). Any cycle in
that graph (A -> B -> ... -> A) means two modules cannot be understood,
tested or replaced apart, so it fails this suite, naming the cycle and
the files whose #include lines make it.

Run from anywhere: python3 tests/unit/test_includes.py [LIBDIR]
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def module_graph(libdir):
    """{module: {dependency: [file, ...]}} from lib/*.c and lib/*.h."""
    graph = {}
    for name in sorted(os.listdir(libdir)):
        mod, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        deps = graph.setdefault(mod, {})
        with open(os.path.join(libdir, name), encoding="utf-8") as f:
            for dep in INCLUDE.findall(f.read()):
                if dep != mod:
                    deps.setdefault(dep, []).append(name)
    return graph


def cycles(graph):
    """Each elementary cycle found by a depth-first search, once per
    strongly connected set of edges walked (enough to name every
    module caught in a cycle), as lists of modules [a, b, ..., a]."""
    found, seen = [], set()
    state = {}            # 1: on the current path, 2: finished

    def visit(m, path):
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, {})):
            if d not in graph:
                continue  # a system or unknown header: not a module
            if state.get(d) == 1:
                cyc = path[path.index(d):] + [d]
                key = frozenset(zip(cyc, cyc[1:]))
                if key not in seen:
                    seen.add(key)
                    found.append(cyc)
            elif state.get(d) is None:
                visit(d, path)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if state.get(m) is None:
            visit(m, [])
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    libdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "lib")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL: " + what)

    # The checker itself: a known cycle is found, an acyclic graph is not.
    check(cycles({"a": {"b": ["a.c"]}, "b": {"a": ["b.h"]}}) == [["a", "b", "a"]],
          "a two-module cycle is found")
    check(len(cycles({"a": {"b": [], "c": []}, "b": {"c": []}, "c": {}})) == 0,
          "a diamond is no cycle")
    check(cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == [["a", "b", "c", "a"]],
          "a three-module cycle is found")

    graph = module_graph(libdir)
    check(len(graph) > 10, "lib/ holds the modules (%d found in %s)" % (len(graph), libdir))
    for cyc in cycles(graph):
        how = "; ".join("%s -> %s (%s)" % (a, b, ", ".join(graph[a][b]))
                        for a, b in zip(cyc, cyc[1:]))
        check(False, "include cycle %s: %s" % (" -> ".join(cyc), how))
    check(not cycles(graph), "no include cycle between the modules of lib/")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
