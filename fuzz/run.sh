#!/usr/bin/env bash
# Fuzz qmspec: each target runs for SECONDS (default 600) with libFuzzer and AddressSanitizer.
#   bash fuzz/run.sh [SECONDS [TARGET...]]     (targets: validate, render, generate; default all)
# Seeds come from specs/ and tests/fixtures/. A crash leaves its input in
# fuzz/artifacts/<target>/; once fixed, keep it as a test in tests/cli/hostile.rs.
# cargo-fuzz needs nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP lets the stable toolchain
# accept them, so no second toolchain is needed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(validate render generate)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    if [ "$target" = generate ]; then
        # Seeds in the target's input form: file name, NUL, manifest, NUL, spec.
        for f in ../specs/*.yaml ../tests/fixtures/*.yaml; do
            { printf 'worker.yaml\0# Files qmspec generated (spec, tab, output). `qmspec generate` maintains this list.\nspecs/worker.yaml\tCargo.toml\nspecs/worker.yaml\tgenerated/notes.txt\n\0'; cat "$f"; } \
                > "$corpus/seed-$(basename "$f")"
        done
    else
        cp ../specs/*.yaml ../tests/fixtures/*.yaml ../tests/fixtures/validate/*.yaml "$corpus/"
    fi
    echo "== $target: ${seconds}s"
    cargo fuzz run --release "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=16384 -dict=spec.dict -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
done
