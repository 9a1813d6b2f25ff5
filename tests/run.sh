#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the referees, checks formatting and lints,
# builds, runs every test, then checks this repository's own generated files with qmspec.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh
export QMSPEC_REFEREES="${QMSPEC_REFEREES:-$PWD/.referees}"
export PATH="$QMSPEC_REFEREES/venv/bin:$QMSPEC_REFEREES/node/node_modules/.bin:$PATH"

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --release

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
    # nextest does not run doctests; there are none, but keep the lib's unit tests honest.
else
    cargo test --locked --no-fail-fast
fi

# Dogfood: the committed generated files and schema match specs/ with this qmspec.
./target/release/qmspec check
