#!/usr/bin/env bash
# The bench folder the answer-model decisions are measured on, from nothing (about an hour
# on two cores): the week samples of realtimeqa-2023-24 and the indexes of the four sets
# as docs/benchmarks.md names them. Each step is a no-op once done, so a run killed
# half-way is started again as it was.
#
#     tests/bench/rebuild_bench_data.sh /work/bench-data [../shared/eval]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: rebuild_bench_data.sh BENCH_DIR [EVAL_DIR]}
eval_dir=${2:-../shared/eval}
py=.venv/bin/python
export QA_MODEL_CACHE_DIR=${QA_MODEL_CACHE_DIR:-$out/models}
mkdir -p "$out"
# --limit 1: bench_answers syncs the set's index (the cost) and asks one question.
ask_one() { "$py" tests/bench/bench_answers.py "$@" --limit 1 >/dev/null; }

[ -d "$out/sets3/rtqa24-rest" ] || "$py" tests/bench/make_week_samples.py "$eval_dir/realtimeqa-2023-24" --out "$out/sets3" --val-every 2 --rest
echo "realtimeqa-dev, int8 (the test set)"
ask_one "$eval_dir/realtimeqa-dev" --data-dir "$out/int8/realtimeqa-dev-int8" --collection bench
echo "xquad-en and mtrag-dev"
ask_one "$eval_dir/xquad-en" --data-dir "$out/dev" --xquad-split heldout
ask_one "$eval_dir/mtrag-dev" --data-dir "$out/dev"
echo "the other 26 weeks of 2024, fp32"
QA_EMBED_PRECISION=fp32 ask_one "$out/sets3/rtqa24-rest" --data-dir "$out/rtqa24r" --collection rtqa24-rest
echo "the 26 validation weeks of 2024, fp32"
QA_EMBED_PRECISION=fp32 ask_one "$out/sets3/rtqa24-val" --data-dir "$out/rtqa24x" --collection rtqa24-val
echo "done: $out"
