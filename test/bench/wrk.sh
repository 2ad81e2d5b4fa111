#!/usr/bin/env bash
# The HTTP benchmark against the baselines, under wrk: for each workload
# (ES256 issue, ES256 verify, HS256 issue) it runs baseline A, baseline D and
# `jwtledger serve` in turn, ROUNDS times, each server fresh (new data
# directory) on 127.0.0.1, under `wrk -t$THREADS -c$CONNS -d$DURATION
# --latency`, and prints a markdown table of the medians: requests/s, ratio
# to A and to D, p99, server CPU per request (utime+stime from /proc) and peak
# resident memory (VmHWM).
#
#   test/bench/wrk.sh                      # 3 rounds of 10 s per server and workload (~6 min)
#   DURATION=3s ROUNDS=1 test/bench/wrk.sh # a quick check
#
# Settings (environment): DURATION (10s), WARMUP (2s, not measured), ROUNDS
# (3), THREADS (2), CONNS (64), WORKLOADS ("es256-issue es256-verify
# hs256-issue"), BEFORE (the path of another jwtledger binary, e.g. a
# build of main: it runs as server "before" next to serve, same flags, in
# every round, for a change's paired ratio), BENCH_TMPDIR (where the data directories go; default
# $TMPDIR or /tmp; it should be a real disk, not tmpfs, or fsync is free).
# The load generator shares the machine's CPUs with the server: say so when
# you report figures.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
WORKLOADS=${WORKLOADS:-es256-issue es256-verify hs256-issue}

die() { echo "wrk.sh: error: $*" >&2; exit 1; }
note() { echo "wrk.sh: $*" >&2; }

SERVERS="A D serve"
if [ -n "${BEFORE:-}" ]; then
  [ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not an executable"
  SERVERS="A D before serve"
fi

command -v wrk >/dev/null 2>&1 || die "wrk is not installed (Debian: apt-get install wrk)"
command -v curl >/dev/null 2>&1 || die "curl is not installed (Debian: apt-get install curl)"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
[ -r /proc/self/stat ] || die "/proc is needed to measure the server's CPU and memory (Linux)"

# seconds converts a wrk duration (10, 10s, 2m, 1h) to whole seconds.
seconds() {
  case $1 in
    *[!0-9smh]* | "") die "bad duration $1" ;;
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DURATION_S=$(seconds "$DURATION")
WARMUP_S=$(seconds "$WARMUP")
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[ "$DURATION_S" -gt 0 ] || die "DURATION must be positive"
for w in $WORKLOADS; do
  case $w in es256-issue | es256-verify | hs256-issue) ;; *) die "unknown workload $w" ;; esac
done

# Settings from the caller's environment must not reach serve.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^JWTLEDGER_' || true)

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/jwtledger-wrk.XXXXXX")
if [ "$(stat -f -c %T "$WORK")" = tmpfs ]; then
  note "warning: $WORK is on tmpfs, where fsync costs nothing; set BENCH_TMPDIR to a directory on disk"
fi
LIVE=() # the processes this script started and has not yet stopped

# forget PID: PID was reaped, so it may belong to someone else from now on.
forget() {
  local keep=() p
  for p in "${LIVE[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  LIVE=("${keep[@]}")
}
# stop ends one process we started (not yet reaped, so the pid is still
# ours): SIGTERM, then SIGKILL after 20 s.
stop() {
  local pid=$1 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}
cleanup() {
  local p
  for p in "${LIVE[@]}"; do stop "$p"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note "building jwtledger and the baseline into $WORK"
go build -o "$WORK/jwtledger" ./cmd/jwtledger
go build -o "$WORK/baseline" ./test/bench/baseline
SERVE_FLAGS_HS=()
# The help text is read whole first: piped into grep -q under pipefail, an
# early exit of grep (SIGPIPE) or --help's exit status made the test false
# by chance, and serve then refused the HS256 key.
SERVE_HELP=$("$WORK/jwtledger" serve --help 2>&1 || true)
if grep -q -- '--allow-hmac-signing' <<<"$SERVE_HELP"; then
  SERVE_FLAGS_HS+=(--allow-hmac-signing)
fi
TCK=$(getconf CLK_TCK)

# start SERVER ALG DIR: starts A, D or serve on a free port of 127.0.0.1
# with a fresh data directory and sets PID, URL and SECRET.
start() {
  local server=$1 alg=$2 dir=$3 i
  mkdir -p "$dir"
  : >"$dir/stdout" # before the server opens it, for the wait below
  case $server in
    A | D)
      "$WORK/baseline" --addr 127.0.0.1:0 --mode "$server" --alg "$alg" --dir "$dir/data" >"$dir/stdout" 2>"$dir/stderr" &
      ;;
    serve | before)
      local flags=() bin=$WORK/jwtledger
      [ "$server" = before ] && bin=$BEFORE
      if [ "$alg" = HS256 ]; then
        "$bin" keys rotate --alg HS256 --data-dir "$dir/data" >"$dir/keys.out" 2>&1 ||
          die "keys rotate --alg HS256 failed: $(cat "$dir/keys.out")"
        flags=("${SERVE_FLAGS_HS[@]}")
      fi
      # serve's operational log (stderr) goes to a file, like A's log lines.
      "$bin" serve --addr 127.0.0.1:0 --data-dir "$dir/data" "${flags[@]}" >"$dir/stdout" 2>"$dir/stderr" &
      ;;
  esac
  PID=$!
  LIVE+=("$PID")
  for ((i = 0; i < 300; i++)); do # 30 s
    grep -q 'listening on http://' "$dir/stdout" && break
    kill -0 "$PID" 2>/dev/null || die "$server did not start: $(cat "$dir/stderr")"
    sleep 0.1
  done
  URL=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$dir/stdout" | head -n 1)
  SECRET=$(awk '/client_secret:/ {print $2; exit}' "$dir/stdout")
  [ -n "$URL" ] && [ -n "$SECRET" ] || die "$server: no 127.0.0.1 address or secret in its output: $(cat "$dir/stdout")"
}

# post PATH BODY: one request with curl; prints the answer.
post() {
  curl -sS --max-time 10 -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' -d "$2" "$URL$1"
}

# cpu_ticks PID: utime+stime of the process (clock ticks), from the fields
# after the command name, which may hold spaces.
cpu_ticks() {
  local s rest
  s=$(cat "/proc/$1/stat")
  rest=${s##*) }
  read -r -a f <<<"$rest"
  echo $(( f[11] + f[12] ))
}

# wrk_run DURATION OUT: wrk POSTing BODY to URL$TARGET with SECRET, in the
# background (so that a signal stops the script at once), bounded by timeout.
wrk_run() {
  local dur=$1 out=$2 rc=0
  BENCH_BODY=$BODY BENCH_SECRET=$SECRET timeout --kill-after=5 $(( $(seconds "$dur") + 30 )) \
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency -s test/bench/post.lua "$URL$TARGET" >"$out" 2>&1 &
  local wpid=$!
  LIVE+=("$wpid")
  wait "$wpid" || rc=$?
  forget "$wpid"
  [ "$rc" = 0 ] || die "wrk failed (exit $rc): $(cat "$out")"
}

RESULTS=$WORK/results # workload server round rps p99_us cpu_us rss_kib errors
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
note "$(nproc) CPUs, load average $LOAD_BEFORE; wrk -t$THREADS -c$CONNS -d$DURATION (+$WARMUP warm-up), $ROUNDS rounds"
for w in $WORKLOADS; do
  case $w in
    es256-*) alg=ES256 ;;
    hs256-*) alg=HS256 ;;
  esac
  for ((round = 1; round <= ROUNDS; round++)); do
    for server in $SERVERS; do
      dir=$WORK/$w-$round-$server
      start "$server" "$alg" "$dir"
      TARGET=/v1/tokens
      BODY='{"sub":"bench"}'
      if [ "$w" = es256-verify ]; then
        tok=$(post /v1/tokens "$BODY" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
        [ -n "$tok" ] || die "$server: could not issue the token to verify"
        TARGET=/v1/tokens/verify
        BODY="{\"token\":\"$tok\"}"
        post "$TARGET" "$BODY" | grep -q '"valid":true' || die "$server: the token to verify is not valid"
      else
        post "$TARGET" "$BODY" | grep -q '"token":"' || die "$server: issue failed"
      fi
      if [ "$WARMUP_S" -gt 0 ]; then wrk_run "$WARMUP" "$dir/warmup.txt"; fi
      c0=$(cpu_ticks "$PID")
      wrk_run "$DURATION" "$dir/wrk.txt"
      c1=$(cpu_ticks "$PID")
      rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")
      stop "$PID"
      # The next server must not pay for this one's writeback: its data
      # (up to a few hundred MB) reaches the disk now, and is removed.
      rm -rf "$dir/data"
      sync
      read -r _ reqs dur_us status_err sock_err p99_us < <(grep '^RESULT ' "$dir/wrk.txt") ||
        die "no result from wrk: $(cat "$dir/wrk.txt")"
      [ "$reqs" -gt 0 ] || die "$server: no requests completed"
      errs=$(( status_err + sock_err ))
      awk -v w="$w" -v s="$server" -v r="$round" -v n="$reqs" -v d="$dur_us" -v p="$p99_us" \
        -v c=$(( c1 - c0 )) -v t="$TCK" -v m="$rss" -v e="$errs" \
        'BEGIN { printf "%s %s %d %.1f %d %.1f %d %d\n", w, s, r, n / (d / 1e6), p, c * 1e6 / t / n, m, e }' >>"$RESULTS"
      note "$(tail -n 1 "$RESULTS" | awk '{printf "%-13s %-5s round %d: %8.0f req/s  p99 %6.1f ms  %5.0f µs CPU/req  peak RSS %5.1f MiB  errors %d", $1, $2, $3, $4, $5 / 1000, $6, $7 / 1024, $8}')"
      if [ "$errs" -gt 0 ]; then note "warning: $errs non-2xx answers or socket errors (see the table)"; fi
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds of ${SERVERS// /, } in turn; medians; $(nproc) CPUs; load average $LOAD_BEFORE before, $LOAD_AFTER after; $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
echo
echo "| workload | server | req/s | ÷ A | ÷ D | p99 ms | CPU µs/req | peak RSS MiB | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
awk -v order="$WORKLOADS" -v servers="$SERVERS" '
function median(key, col,   n, i, j, t, v) {
  n = 0
  for (i = 1; i <= cnt[key]; i++) v[++n] = val[key, i, col]
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ key = $1 SUBSEP $2; i = ++cnt[key]; for (c = 4; c <= 7; c++) val[key, i, c] = $c; err[key] += $8 }
END {
  nw = split(order, ws, " "); ns = split(servers, ss, " ")
  for (a = 1; a <= nw; a++) {
    w = ws[a]; ra = median(w SUBSEP "A", 4); rd = median(w SUBSEP "D", 4)
    for (b = 1; b <= ns; b++) {
      k = w SUBSEP ss[b]; r = median(k, 4)
      printf "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %.1f | %d |\n", w, ss[b], r, r / ra, r / rd, median(k, 5) / 1000, median(k, 6), median(k, 7) / 1024, err[k]
    }
  }
}' "$RESULTS"
