#!/usr/bin/env bash
# Benchmark hoist-scan against ripgrep on a large real tree.
#
#   bench/scan.sh [TREE]      (default: ~/.cargo/registry/src, populated by
#                              building the workspace)
#
# Both tools see the same files: no ignore files (--no-ignore), hidden files
# included, files over 1 MiB skipped, binary files skipped. ripgrep searches
# for the union of the ruleset's keywords (case-insensitive, fixed strings),
# which is the prefilter alone; hoist-scan runs the prefilter plus every
# triggered rule's regex, entropy and allowlists. Each tool runs RUNS times
# after a warm-up; the best wall time is reported.
set -euo pipefail

cd "$(dirname "$0")/.."
TREE="${1:-$HOME/.cargo/registry/src}"
RUNS="${RUNS:-3}"
OUT="${OUT:-target/bench-scan}"
mkdir -p "$OUT"

if [ ! -d "$TREE" ]; then
    echo "no such tree: $TREE (build the workspace first, or pass a path)" >&2
    exit 2
fi
if ! command -v rg >/dev/null 2>&1; then
    apt-get install -y ripgrep || { apt-get update && apt-get install -y ripgrep; }
fi
if [ ! -x /usr/bin/time ]; then
    apt-get install -y time || { apt-get update && apt-get install -y time; }
fi

cargo build --release -q -p hoist-scan --example scan
BIN="${CARGO_TARGET_DIR:-target}/release/examples/scan"
"$BIN" --print-keywords >"$OUT/keywords.txt"

# Elapsed seconds and max RSS (KiB) from /usr/bin/time -v output.
elapsed() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
# User + system CPU seconds (the machine may be shared: CPU time is the
# steadier measure, wall time the one users feel).
cpu() { awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$1"; }

best() { sort -g | head -1; }

# Warm the page cache.
rg --no-ignore --hidden -c -F -i -f "$OUT/keywords.txt" "$TREE" >/dev/null 2>&1 || true

: >"$OUT/hoist.times"; : >"$OUT/rg.times"; : >"$OUT/hoist.cpu"; : >"$OUT/rg.cpu"
for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$OUT/hoist.time" "$BIN" --no-ignore "$TREE" >"$OUT/hoist.out" || true
    elapsed "$OUT/hoist.time" >>"$OUT/hoist.times"
    cpu "$OUT/hoist.time" >>"$OUT/hoist.cpu"
    /usr/bin/time -v -o "$OUT/rg.time" rg --no-ignore --hidden --max-filesize 1M \
        -i -F -c -f "$OUT/keywords.txt" --stats "$TREE" >"$OUT/rg.out" || true
    elapsed "$OUT/rg.time" >>"$OUT/rg.times"
    cpu "$OUT/rg.time" >>"$OUT/rg.cpu"
done

HOIST_BYTES=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$OUT/hoist.out")
HOIST_FILES=$(sed -n 's/^files=\([0-9]*\).*/\1/p' "$OUT/hoist.out")
HOIST_FINDINGS=$(sed -n 's/.*findings=\([0-9]*\).*/\1/p' "$OUT/hoist.out")
RG_BYTES=$(awk '/bytes searched/ {print $1}' "$OUT/rg.out")
RG_FILES=$(awk '/files searched/ {print $1}' "$OUT/rg.out")
HOIST_S=$(best <"$OUT/hoist.times")
RG_S=$(best <"$OUT/rg.times")
HOIST_CPU=$(best <"$OUT/hoist.cpu")
RG_CPU=$(best <"$OUT/rg.cpu")

# Findings, per rule and in full, for the false-positive review.
"$BIN" --no-ignore --findings --by-rule "$TREE" >"$OUT/findings.txt" || true

awk -v hb="$HOIST_BYTES" -v hs="$HOIST_S" -v rb="$RG_BYTES" -v rs="$RG_S" \
    -v hf="$HOIST_FILES" -v rf="$RG_FILES" -v hr="$(rss "$OUT/hoist.time")" \
    -v rr="$(rss "$OUT/rg.time")" -v n="$HOIST_FINDINGS" -v kw="$(wc -l <"$OUT/keywords.txt")" \
    -v hc="$HOIST_CPU" -v rc="$RG_CPU" -v tree="$TREE" 'BEGIN {
    hm = hb / 1e6 / hs; rm = rb / 1e6 / rs;
    printf "tree:            %s\n", tree;
    printf "keywords:        %d\n", kw;
    printf "hoist-scan:      %d files, %.1f MB in %.2f s = %.1f MB/s, peak RSS %.1f MiB\n", hf, hb/1e6, hs, hm, hr/1024;
    printf "ripgrep:         %d files, %.1f MB in %.2f s = %.1f MB/s, peak RSS %.1f MiB\n", rf, rb/1e6, rs, rm, rr/1024;
    printf "ratio (wall):    hoist-scan runs at %.2f of ripgrep throughput\n", hm / rm;
    printf "CPU seconds:     hoist-scan %.2f, ripgrep %.2f (ratio by CPU time %.2f)\n", hc, rc, (rb/rc) ? (hb/hc)/(rb/rc) : 0;
    printf "findings:        %d (details: target/bench-scan/findings.txt)\n", n;
}'
