#!/usr/bin/env bash
# Builds gradvol at the base commit of the bricked renderer (cf3cf50, the last commit with the
# float32 whole-volume textures) into target/base/release/gradvol, so that
# `cargo bench --bench render` can measure it beside the current renderer in the same run.
# A separate target folder: the first build takes as long as any clean release build.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE_COMMIT:-cf3cf50}
src=target/base/src
rm -rf "$src"
mkdir -p "$src"
git archive "$base" | tar -x -C "$src"
cargo build --release --locked --manifest-path "$src/Cargo.toml" --target-dir target/base/build
mkdir -p target/base/release
cp target/base/build/release/gradvol target/base/release/gradvol
echo "built $base into target/base/release/gradvol"
