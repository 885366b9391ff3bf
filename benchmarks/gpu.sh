#!/usr/bin/env bash
# The GPU check: the seed's padded recipe against the device's ("auto", which is
# "bucketed" on a GPU), per installed backend and model, on 10,000 Fine Foods reviews,
# and the targets (benchmarks/gpu_targets.py) marked PASS or FAIL.
#
#   bash benchmarks/gpu.sh [DATA_DIR]         on a machine with an NVIDIA GPU
#   bash benchmarks/gpu.sh --cpu [DATA_DIR]   a dry run on a CPU at tiny sizes (the tests')
#
# DATA_DIR holds the raw review file (default: $REVIEWS_DATA_DIR, else data/raw, else it
# is downloaded). Python: $PYTHON, else .venv/bin/python (the one `GPU=1 BACKEND=jax
# make run` builds), else python3. GPU_CHECK_CPU=1 is --cpu. BACKENDS=jax,torch limits
# the backends (default: every installed one); OUT is the output folder (default
# output/gpu in the repository), TIMEOUT the seconds a case may run (default 1800).
# Exit status: 0 when every target passes, 1 when one fails, 2 when the check cannot
# run (no GPU visible).
set -euo pipefail

dry_run=${GPU_CHECK_CPU:-}
if [[ ${1:-} == --cpu ]]; then
    dry_run=1
    shift
fi
data_dir=${1:-${REVIEWS_DATA_DIR:-}}
if [[ -d $data_dir ]]; then
    data_dir=$(cd "$data_dir" && pwd)
fi
out=${OUT:-}
if [[ -n $out && $out != /* ]]; then
    out=$PWD/$out
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.." # the repository root, wherever this is called from
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" # this clone's helpers
out=${out:-output/gpu}
python=${PYTHON:-}
if [[ -z $python && -x .venv/bin/python ]]; then
    python=.venv/bin/python
fi
python=${python:-python3}

if [[ -z $dry_run ]]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep '^GPU ' || true)
    if [[ -z $gpus ]]; then
        echo "error: no GPU visible (nvidia-smi -L lists none); run this on a machine with an NVIDIA GPU and driver, or pass --cpu for a dry run" >&2
        exit 2
    fi
    echo "$gpus"
    sizes=(--docs 10000 --test-docs 1000 --repeats 2)
else
    echo "dry run on a CPU at tiny sizes: the timings say nothing about the targets"
    sizes=(--docs 64 --test-docs 40 --repeats 1)
    for change in num_words=2000 embedding_dim=16 units=8 max_words=60 context_dim=8 \
        max_sentences=8 words_per_sentence=24; do
        sizes+=(--set "$change")
    done
fi

installed=$("$python" -c 'from helpers.backend import LIVE_BACKENDS as names, is_installed
print(",".join(name for name in names if is_installed(name)))')
backends=${BACKENDS:-$installed}
if [[ -z $backends ]]; then
    echo "error: no Keras backend installed: run GPU=1 BACKEND=jax make run first" >&2
    exit 2
fi
# The listing's exit status speaks for the active backend only, which may be one not
# installed here (Keras' default, TensorFlow): ask about the first one that is.
KERAS_BACKEND=${KERAS_BACKEND:-${backends%%,*}} "$python" -m helpers backends

if [[ -n $data_dir ]]; then
    sizes+=(--data-dir "$data_dir")
fi
# The seed's masking for each model's padded case: the LSTM unmasked, the HAN masked.
for run in lstm:off han:on; do
    model=${run%%:*}
    status=0
    "$python" -m helpers bench --backends "$backends" --models "$model" \
        --masks "${run##*:}" --recipes padded,auto "${sizes[@]}" \
        --timeout "${TIMEOUT:-1800}" --out "$out/$model" || status=$?
    if ((status > 1)); then # 1: a case failed, a FAIL below; more: the run could not start
        exit "$status"
    fi
done

check=(benchmarks/gpu_targets.py "$out/lstm" "$out/han")
if [[ -n $dry_run ]]; then
    check+=(--dry-run)
fi
"$python" "${check[@]}"
