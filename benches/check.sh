#!/usr/bin/env bash
# Benchmarks of `qmspec check`, `validate` and `generate` (the `dist` build that wheels and
# release binaries ship; process start included): wall time (hyperfine), peak memory (GNU
# time) and instructions (callgrind), on this repository and on generated monorepos of 200
# and 10,000 worker specs, with `qmspec --version` measured in the same run as the floor.
# `check` is measured twice: as it runs after a complete `generate` (a read of the files against
# the manifest's record), and with `--full` (every spec parsed, validated and rendered).
#
#   bash benches/check.sh            # all cases (about ten minutes on 2 cores)
#   BENCH_LARGE=0 bash benches/check.sh   # without the 10,000-spec monorepo
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if ((${#need[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --profile dist --locked --quiet
bin="$PWD/target/dist/qmspec"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A monorepo of N copies of the worker spec, each with its own outputs and image name.
monorepo() {
    local dir="$work/mono-$1"
    mkdir -p "$dir/specs"
    for i in $(seq -w 1 "$1"); do
        sed -e "s|generated/|generated/w$i/|g" -e "s|^name: qm-nmr-calc-worker|name: qm-nmr-calc-worker-$i|" \
            specs/worker.yaml > "$dir/specs/worker-$i.yaml"
    done
    (cd "$dir" && "$bin" generate >/dev/null 2>&1)
    (cd "$dir" && "$bin" check >/dev/null)
    echo "$dir"
}

rows="$work/rows"
# bench NAME DIR RUNS COMMAND...: one table row (mean ± σ, min, peak memory).
bench() {
    local name="$1" dir="$2" runs="$3"
    shift 3
    local json="$work/h.json"
    (cd "$dir" && hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$json" "$*" >/dev/null)
    (cd "$dir" && /usr/bin/time -o "$work/peak" -f %M "$@" >/dev/null 2>&1) || true
    local peak
    peak=$(tail -1 "$work/peak")
    python3 - "$json" "$peak" "$name" >> "$rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
peak = int(sys.argv[2]) / 1024
ms = lambda s: f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"
print(f"| {sys.argv[3]} | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['min'])} | {peak:.1f} MiB |")
PY
}

: > "$rows"
bench "\`qmspec --version\` (the floor)" "$PWD" 100 "$bin" --version
bench "this repository: check" "$PWD" 100 "$bin" check
bench "this repository: check --full" "$PWD" 100 "$bin" check --full
mono200="$(monorepo 200)"
bench "200 specs: check" "$mono200" 30 "$bin" check
bench "200 specs: check --full" "$mono200" 10 "$bin" check --full
bench "200 specs: validate" "$mono200" 10 "$bin" validate
bench "200 specs: generate (nothing to write)" "$mono200" 5 "$bin" generate
if [ "${BENCH_LARGE:-1}" != 0 ]; then
    mono10k="$(monorepo 10000)"
    bench "10,000 specs: check" "$mono10k" 5 "$bin" check
    bench "10,000 specs: check --full" "$mono10k" 2 "$bin" check --full
    bench "10,000 specs: validate" "$mono10k" 2 "$bin" validate
    bench "10,000 specs: generate (nothing to write)" "$mono10k" 2 "$bin" generate
fi
echo "| case | mean ± σ | min | peak memory |"
echo "|---|---|---|---|"
cat "$rows"

# Wall time on a shared 2-core VM is noisy; instruction counts (callgrind) repeat exactly.
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'; }
echo
echo "instructions: --version $(count "$bin" --version), this repository check $(count "$bin" check)," \
    "check --full $(count "$bin" check --full), 200 specs check $(cd "$mono200" && count "$bin" check)," \
    "200 specs check --full $(cd "$mono200" && count "$bin" check --full)"
