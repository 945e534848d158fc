"""Measuring helpers shared by the benchmarks: peak resident memory and CPU time of a process tree, from
``/proc``. CPU seconds, unlike wall seconds, hardly move when other work shares the machine's two cores, so a
before/after comparison of one stage's change stays readable on a busy machine."""

from __future__ import annotations

import os
import threading


class PeakRss:
    """Peak resident memory of a process and each of its descendants, sampled from /proc.

    ``peak``: KiB per process name (``java``, ``python3``...), each at its own maximum;
    ``peak_total``: KiB of the whole tree at the sample where the sum was highest;
    ``cpu_s``: user + system seconds of the tree, each process at its last sample (up to 0.2 s of a
    process's last moments can be missed).
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self._cpu_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as handle:
                        status = handle.read()
                    with open(f"/proc/{pid}/comm") as handle:
                        name = handle.read().strip()
                except OSError:
                    continue
                try:
                    with open(f"/proc/{pid}/stat") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                    self._cpu_ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
                except (OSError, IndexError, ValueError):
                    pass
                rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
                self.peak[name] = max(self.peak.get(name, 0), rss)
                total += rss
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(0.2)

    @property
    def cpu_s(self) -> float:
        return round(sum(self._cpu_ticks.values()) / os.sysconf("SC_CLK_TCK"), 1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
