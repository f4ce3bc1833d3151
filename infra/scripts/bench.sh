#!/usr/bin/env bash
# `make bench`: the figures of docs/BENCHMARKS.md, each printed as a table with the ratios
# measured in the same run — the scorer and TreeSHAP against LightGBM (`warmstart bench`),
# then recommend and predict through their real runtime loop against moto_server. Nothing is
# asserted on the figures; record them with the machine's load (`uptime` is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
infra/scripts/bootstrap.sh
cargo build --release --locked -p warmstart-cli -p recommend -p predict -p warmstart-tests \
  --bin warmstart --bin recommend --bin predict --bin bench_recommend --bin bench_predict
bin="$CARGO_TARGET_DIR/release"
uptime
"$bin/warmstart" bench "$@"
"$bin/bench_recommend" --warm 1000 --cold 10
"$bin/bench_predict" --warm 300 --models 10
uptime
