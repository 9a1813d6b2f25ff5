#!/usr/bin/env bash
# Benchmarks `qmspec check`, the pre-commit hot path, with hyperfine (wall time, release build,
# process start included) and GNU time (peak memory):
#   1. this repository: specs/api.yaml, specs/worker.yaml and their 8 generated files;
#   2. a generated monorepo of 200 specs (1,000 generated files).
# Usage: bash benches/check.sh   (installs nothing but hyperfine and time from Debian if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet
bin="$PWD/target/release/qmspec"

mono="$(mktemp -d)"
trap 'rm -rf "$mono"' EXIT
mkdir -p "$mono/specs" "$mono/schema"
cp schema/worker.schema.json "$mono/schema/"
for i in $(seq -w 1 200); do
    sed -e "s|generated/|generated/w$i/|g" -e "s|^name: qm-nmr-calc-worker|name: qm-nmr-calc-worker-$i|" \
        specs/worker.yaml > "$mono/specs/worker-$i.yaml"
done
(cd "$mono" && "$bin" generate >/dev/null 2>&1)
(cd "$mono" && "$bin" check >/dev/null)

results="$(mktemp)"
hyperfine -N --warmup 10 --runs 100 --export-json "$results.one" "$bin check" >/dev/null
(cd "$mono" && hyperfine -N --warmup 3 --runs 30 --export-json "$results.mono" "$bin check" >/dev/null)
peak_one=$( { /usr/bin/time -f %M "$bin" check >/dev/null; } 2>&1 )
peak_mono=$( cd "$mono" && { /usr/bin/time -f %M "$bin" check >/dev/null; } 2>&1 )

python3 - "$results.one" "$results.mono" "$peak_one" "$peak_mono" <<'PY'
import json, sys
one, mono = (json.load(open(p))["results"][0] for p in sys.argv[1:3])
peak_one, peak_mono = (int(x) / 1024 for x in sys.argv[3:5])
print("| case | mean | min | max | peak memory |")
print("|---|---|---|---|---|")
for name, r, peak in (("this repository (2 specs, 8 files)", one, peak_one), ("200 specs (1,000 files)", mono, peak_mono)):
    ms = lambda s: f"{s * 1000:.1f} ms"
    print(f"| {name} | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['min'])} | {ms(r['max'])} | {peak:.1f} MiB |")
PY
rm -f "$results" "$results.one" "$results.mono"

# Wall time on a shared 2-core VM is noisy; instruction counts (callgrind) repeat exactly.
if command -v valgrind >/dev/null 2>&1; then
    count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'; }
    echo
    echo "instructions: this repository $(count "$bin" check), 200 specs $(cd "$mono" && count "$bin" check)"
fi
