#!/usr/bin/env bash
# The checks that need a GPU, as one script: the CUDA tests (skipped on a machine without one), then the GPU
# timings that BENCHMARKS.md quotes. Run from the repository root on a machine with CUDA:
#
#     bash benchmarks/cuda_check.sh OUTDIR [PART ...]   # logs and JSON into OUTDIR (default ./cuda-check)
#
# PARTs (default: all, in this order): tests; sweep16 and sweep64 (benchmarks/sweep_speed.py, the vectorized pass
# as it plans by default against one run after another, 16 configurations on the full data and 64 on 12,000
# examples); sweep16-tensor and sweep64-tensor (the same with --update tensor: every configuration's update in
# one stacked call of the rule); step (benchmarks/optimizer_step.py, the optimizers with torch kernels).
# Fashion-MNIST is read where descentlab looks for it ($DESCENTLAB_DATA/fashion-mnist, --data-dir, Debian's
# package); without it sweep_speed.py uses random data of its shape, and says so. Each part has its own time
# limit, so that one that hangs does not take the others' time.
set -u
out=${1:-cuda-check}
shift || true
parts=${*:-tests sweep16 sweep64 sweep16-tensor sweep64-tensor step}
mkdir -p "$out"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
part() {  # part NAME SECONDS COMMAND...: run, log to OUT/NAME.txt, say how it ended
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    echo "$name: exit $? after $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
}

{ date -u; nvidia-smi -L; "$py" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__,
torch.cuda.get_device_name(), torch.get_num_threads(), "threads")'; } >"$out/summary.txt" 2>&1
cat "$out/summary.txt"
# what the workbench imports: without them the CLI tests fail and the data cannot be located (run 1 of 2026-11-30
# fell back to random data so); stop before spending the GPU's time
if ! "$py" -c 'import descentlab.cli, platformdirs, tomli_w, rich, matplotlib, sklearn' >>"$out/summary.txt" 2>&1; then
    echo "missing a workbench dependency (see $out/summary.txt): pip install 'descentlab[lab]'" | tee -a "$out/summary.txt"
    exit 2
fi

sweep=("$py" benchmarks/sweep_speed.py --device cuda)
for p in $parts; do
    case $p in
        tests) part tests 150 "$py" -m pytest -p no:cacheprovider -q -ra tests/optim/test_drop_in.py \
                   tests/train/test_vectorized.py tests/cli/test_compare_cli.py -k "cuda or fused" ;;
        sweep16) part sweep16 150 "${sweep[@]}" ;;
        sweep64) part sweep64 120 "${sweep[@]}" --configs 64 --limit 12000 ;;
        sweep16-tensor) part sweep16-tensor 150 "${sweep[@]}" --update tensor ;;
        sweep64-tensor) part sweep64-tensor 120 "${sweep[@]}" --configs 64 --limit 12000 --update tensor ;;
        step) part step 90 "$py" benchmarks/optimizer_step.py --device cuda --rounds 20 --shapes 100,1000 \
                  --optimizers SGD-momentum,Adagrad,Adam,AdamW --json "$out/step.json" ;;
        *) echo "unknown part $p; allowed: tests sweep16 sweep64 sweep16-tensor sweep64-tensor step" >&2; exit 2 ;;
    esac
done
