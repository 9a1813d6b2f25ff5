#!/usr/bin/env bash
# How long installing qmspec takes, for each way the README offers:
#   - a cold `cargo install --path .` (the release profile, which is what `cargo install` and the
#     pre-commit `rust` hook build), with an empty target folder and without `--locked`, as the
#     hook runs it; then the same for the fully optimised `dist` profile, for comparison;
#   - `pip install` of the wheel into a fresh virtual environment (the wheel built once with
#     maturin, untimed), as `pip install qmspec` and the `language: python` hook do.
#
#   bash benches/install.sh          # about ten minutes on 2 cores (two cold builds)
#   BENCH_DIST=0 bash benches/install.sh   # without the cold `dist` build
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh >/dev/null
referees="${QMSPEC_REFEREES:-$PWD/.referees}"
command -v hyperfine >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The sources as a clean clone has them.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] || continue
    mkdir -p "$work/tree/$(dirname "$f")"
    cp "$f" "$work/tree/$f"
done

seconds() { # seconds COMMAND...: wall time of one run
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.0f} s')"
}

echo "| how | time |"
echo "|---|---|"
echo "| cold \`cargo install --path .\` (release profile, newest dependencies, empty target) | $(cd "$work/tree" && seconds cargo install --quiet --path . --root "$work/cargo-root" --target-dir "$work/target-release") |"
if [ "${BENCH_DIST:-1}" != 0 ]; then
    echo "| cold \`cargo install --path . --locked --profile dist\` (fat LTO, one codegen unit) | $(cd "$work/tree" && seconds cargo install --quiet --locked --profile dist --path . --root "$work/cargo-root-dist" --target-dir "$work/target-dist") |"
fi

# The wheel, built from the clean tree reusing the release build above (not timed).
(cd "$work/tree/python" && CARGO_TARGET_DIR="$work/target-release" \
    "$referees/venv/bin/maturin" build --quiet --release --locked --out "$work/wheels" >/dev/null 2>&1)
wheel="$(ls "$work"/wheels/qmspec-*.whl)"
json="$work/pip.json"
# A new virtual environment before each run (not timed), so every run installs.
hyperfine -N --runs 10 --export-json "$json" \
    --prepare "sh -c 'rm -rf $work/venv && python3 -m venv $work/venv'" \
    "$work/venv/bin/python -m pip install --quiet --no-index --disable-pip-version-check $wheel" >/dev/null
echo "| \`pip install\` of the wheel into a fresh virtual environment ($(du -k "$wheel" | cut -f1) KiB wheel) | $(python3 -c "import json; r = json.load(open('$json'))['results'][0]; print(f\"{r['mean']:.2f} s ± {r['stddev']:.2f} s\")") |"

# The wheel-backed pre-commit hook's first install: pre-commit clones the hook repository,
# makes a virtual environment and runs `pip install .` (the placeholder, then the wheel, found
# in a local folder as pip would find it on PyPI).
hookrepo="$work/hookrepo"
cp -a "$work/tree" "$hookrepo"
git -C "$hookrepo" init -q && git -C "$hookrepo" add -A
git -C "$hookrepo" -c user.name=bench -c user.email=bench@example.org commit -qm hooks
rev="$(git -C "$hookrepo" rev-parse HEAD)"
scratch="$work/scratch"
mkdir -p "$scratch" && git -C "$scratch" init -q
printf 'repos:\n  - repo: %s\n    rev: %s\n    hooks:\n      - id: qmspec-check\n' "$hookrepo" "$rev" > "$scratch/.pre-commit-config.yaml"
json="$work/hook.json"
hyperfine -N --runs 5 --export-json "$json" \
    --prepare "rm -rf $work/pc-home" \
    "env -C $scratch PRE_COMMIT_HOME=$work/pc-home PIP_NO_INDEX=1 PIP_FIND_LINKS='$(dirname "$wheel") $referees/wheels' $referees/venv/bin/pre-commit install-hooks" >/dev/null
echo "| first install of the \`qmspec-check\` pre-commit hook (clone, virtual environment, placeholder, wheel) | $(python3 -c "import json; r = json.load(open('$json'))['results'][0]; print(f\"{r['mean']:.1f} s ± {r['stddev']:.1f} s\")") |"
