#!/usr/bin/env python3
"""test/bench/cmp.py ROUNDS REGEX BENCHTIME BEFORE_BIN BEFORE_DIR AFTER_BIN AFTER_DIR
Alternates two test binaries (order flips each round), parses go bench lines,
prints per benchmark: median ns/op before/after, median of per-round throughput
ratios after/before (before_ns/after_ns), and medians of any req/s or ratio metrics."""
import subprocess, sys, re, statistics, collections
rounds, regex, bt, bb, bd, ab, ad = sys.argv[1:8]
rounds = int(rounds)
data = {'before': collections.defaultdict(list), 'after': collections.defaultdict(list)}
line_re = re.compile(r'^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$')
def run(side, binp, d):
    out = subprocess.run([binp, '-test.run', '^$', '-test.bench', regex, '-test.benchtime', bt],
                         cwd=d, capture_output=True, text=True).stdout
    for l in out.splitlines():
        m = line_re.match(l)
        if not m: continue
        name, rest = m.group(1), m.group(3).split()
        vals = {}
        for i in range(0, len(rest) - 1, 2):
            try: vals[rest[i+1]] = float(rest[i])
            except ValueError: pass
        data[side][name].append(vals)
for r in range(rounds):
    order = [('before', bb, bd), ('after', ab, ad)]
    if r % 2: order.reverse()
    for side, binp, d in order:
        run(side, binp, d)
    print(f'round {r+1}/{rounds} done', file=sys.stderr, flush=True)
med = statistics.median
for name in sorted(set(data['before']) | set(data['after'])):
    b, a = data['before'].get(name, []), data['after'].get(name, [])
    if not b or not a:
        print(name, 'missing on one side'); continue
    bn = [x.get('ns/op') for x in b]; an = [x.get('ns/op') for x in a]
    pairs = [bx / ax for bx, ax in zip(bn, an)]
    s = f'{name}: ns/op before {med(bn):.0f} after {med(an):.0f}  thr ratio (medians) {med(bn)/med(an):.3f}  paired {med(pairs):.3f}  [{" ".join(f"{p:.2f}" for p in pairs)}]'
    for k in sorted(set(b[0]) & set(a[0])):
        if k in ('ns/op', 'B/op', 'allocs/op'): continue
        s += f'\n    {k}: before {med([x[k] for x in b if k in x]):.3f} after {med([x[k] for x in a if k in x]):.3f}'
    print(s)
