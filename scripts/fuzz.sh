#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, one after another.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target: the argument, else $FUZZ_SECONDS, else 60. TARGETs default to all
# of them (`cargo fuzz list`). Seeds come from fuzz/corpus/<target>/ (committed, never
# written to); inputs the fuzzer finds go to fuzz/target/corpus/<target>/ and are reused
# by the next run. A crash, panic, timeout or out-of-memory fails the script and names
# the input kept under fuzz/artifacts/<target>/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s "$FUZZ_SANITIZER" <target> <input>
# (from fuzz/), then keep it as a regression test (docs/fuzzing.md).
#
# cargo-fuzz needs nightly `-Z` flags; on the stable toolchain RUSTC_BOOTSTRAP=1 allows
# them. $FUZZ_SANITIZER picks the sanitizer (default `address`; `none` is faster).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-${FUZZ_SECONDS:-60}}"
[ $# -gt 0 ] && shift
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# cargo-fuzz has no --locked: check that fuzz/Cargo.lock (committed) is up to date first.
cargo metadata --locked --format-version 1 >/dev/null
# One build for all targets (cargo-fuzz builds every bin).
echo "fuzz: building ${#targets[@]} targets (sanitizer: $sanitizer)"
build_start=$(date +%s)
cargo fuzz build -s "$sanitizer"
echo "fuzz: built in $(($(date +%s) - build_start)) s"

mkdir -p target/logs
summary=()
failed=()
for target in "${targets[@]}"; do
  work="target/corpus/$target"
  artifacts="artifacts/$target"
  log="target/logs/$target.log"
  mkdir -p "$work" "$artifacts" "corpus/$target"
  echo "fuzz: $target for ${seconds} s"
  set +e
  # New inputs go to the first corpus directory ($work), so the seed corpus stays as
  # committed. -timeout: one input taking longer than 10 s is a failure (a hang).
  cargo fuzz run -s "$sanitizer" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    input=$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | awk '{print $NF}' | tail -1 || true)
    echo "fuzz: $target FAILED (exit $status); input: ${input:-see $log}" >&2
    failed+=("$target")
    summary+=("$target: FAILED, input ${input:-unknown} (log $log)")
  else
    summary+=("$target: ok, ${runs:-no run count} ($(find "$work" -type f | wc -l) inputs in its corpus)")
  fi
done

echo "== fuzz summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
