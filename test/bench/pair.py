#!/usr/bin/env python3
"""test/bench/pair.py ROUNDS BENCHTIME BEFORE_BIN BEFORE_DIR AFTER_BIN AFTER_DIR REGEX...
For each REGEX (should select one leaf benchmark), alternates the two test binaries
ROUNDS times (order flipping), one short process each, and reports medians of
wall ns/op, the median of per-round paired throughput ratios after/before, and the
same for process CPU time (user+sys of the whole process incl. setup)."""
import subprocess, sys, re, statistics, resource
rounds, bt, bb, bd, ab, ad = sys.argv[1:7]
regexes = sys.argv[7:]
rounds = int(rounds)
line_re = re.compile(r'^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$')
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(binp, d, rx):
    c0 = cpu()
    out = subprocess.run([binp, '-test.run', '^$', '-test.bench', rx, '-test.benchtime', bt],
                         cwd=d, capture_output=True, text=True).stdout
    c = cpu() - c0
    ns = None
    for l in out.splitlines():
        m = line_re.match(l)
        if m: ns = float(m.group(3))
    return ns, c
med = statistics.median
for rx in regexes:
    b, a = [], []
    for r in range(rounds):
        if r % 2 == 0:
            b.append(run(bb, bd, rx)); a.append(run(ab, ad, rx))
        else:
            a.append(run(ab, ad, rx)); b.append(run(bb, bd, rx))
    if any(x[0] is None for x in a + b):
        print(rx, 'no result'); continue
    wall = [x[0] / y[0] for x, y in zip(b, a)]
    cp = [x[1] / y[1] for x, y in zip(b, a)]
    print(f'{rx}: ns/op before {med([x[0] for x in b]):.0f} after {med([x[0] for x in a]):.0f}; '
          f'throughput after/before: medians {med([x[0] for x in b])/med([x[0] for x in a]):.3f}, paired {med(wall):.3f}; '
          f'CPU s before {med([x[1] for x in b]):.2f} after {med([x[1] for x in a]):.2f}, paired {med(cp):.3f}', flush=True)
    print('   wall pairs', ' '.join(f'{p:.2f}' for p in wall), flush=True)
