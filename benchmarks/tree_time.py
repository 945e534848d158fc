"""CPU seconds of a command's whole process tree, orphans included: how docs/benchmarks.md's
test-suite table was measured (``python benchmarks/tree_time.py OUT pytest -n 0 FILE -q``).

``/usr/bin/time`` misses processes that outlive their parent (a Spark JVM, MinIO, MariaDB started
by a test and reparented); as a child subreaper (Linux ``prctl``) this process inherits and reaps
them, so ``getrusage(RUSAGE_CHILDREN)`` counts them. The standard library has no wrapper for it,
hence these few lines. Appends one line (rc, cpu, user, sys, wall, the command) to OUT.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
REAP_SECONDS = 60     # how long orphans (JVMs, servers) are waited for after the command ends


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: tree_time.py OUT COMMAND [ARGS...]", file=sys.stderr)
        return 2
    out, command = argv[0], argv[1:]
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    started = time.time()
    rc = subprocess.Popen(command).wait()
    wall = time.time() - started
    deadline = time.time() + REAP_SECONDS
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if time.time() > deadline:
                break
            time.sleep(0.5)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = (f"rc={rc} cpu={usage.ru_utime + usage.ru_stime:.1f} user={usage.ru_utime:.1f} "
            f"sys={usage.ru_stime:.1f} wall={wall:.1f} cmd={' '.join(command)}\n")
    with open(out, "a") as handle:
        handle.write(line)
    print(line, end="")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
