#!/usr/bin/env bash
# One GPU window of the book's campaign, run ON the lent machine, one phase per `run` call
# (tools/gpu/README.md gives the exact calls, what each carries and its timeout):
#
#   bash tools/gpu/window.sh call1            wheels, CIFAR part 1, last window's checkpoints;
#                                             then the speed benchmarks (useful work while the
#                                             data still arrive)
#   bash tools/gpu/window.sh call2            CIFAR part 2
#   bash tools/gpu/window.sh mnist            MNIST (only for chapter 5's runs, priority 5: it
#                                             does not fit beside a CIFAR part in one call)
#   bash tools/gpu/window.sh call3 MIN [P]    CIFAR part 3, unpack, run the campaign for MIN
#                                             minutes with P runs at once, pack results and
#                                             unfinished checkpoints into $OUT
#
#   bash tools/gpu/window.sh --local [campaign options]
#                                             any machine with a GPU and a normal file system:
#                                             the same campaign, in this checkout, results
#                                             straight into results/gpu
#
# On the lent machine everything lives under /root (it stays there between the calls of one
# window: the machine is warm for 30 s after each call, so make the calls back to back).
# For a rehearsal on a CPU (tools/gpu/README.md): WINDOW_PYTHON=python interpreter with the
# dependencies installed (the wheels are then not installed), WINDOW_CAMPAIGN_ARGS="--scale
# smoke --run ch02/resnet20" (appended to the campaign command), WINDOW_ROOT=/tmp/rehearsal.
set -euo pipefail
cd "$(dirname "$0")/../.."
phase=${1:?usage: window.sh call1|call2|call3 MIN [PARALLEL] | --local [campaign options]}
shift || true

if [ "$phase" = "--local" ]; then
  exec python3 -m resnet_keras campaign --scale paper "$@"
fi

export KERAS_BACKEND=jax PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
export RESNET_KERAS_GIT_COMMIT=$(cat .gpu/commit)
OUT=${OUT:?OUT is set by the device tool}
python=${WINDOW_PYTHON:-python3}
base=${WINDOW_ROOT:-/root}
data=$base/data work=$base/work results=$base/results parts=$base/parts

case "$phase" in
call1)
  if [ -z "${WINDOW_PYTHON:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
  fi
  mkdir -p "$parts" "$work" && cp .cifar/p1 "$parts/"
  if [ -f .gpu/work.tar.xz ]; then xz -dc .gpu/work.tar.xz | tar -x -C "$work"; fi
  (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) \
    | tee "$OUT/gpu.txt"
  $python -c "import jax, keras; print(jax.devices(), keras.__version__)" | tee -a "$OUT/gpu.txt"
  # The speed comparison of benchmarks/README.md, while the data arrive.
  timeout "${WINDOW_BENCHMARK_S:-150}" $python benchmarks/throughput.py --models resnet20 resnet56 resnet110 \
    --repeats 2 --json "$OUT/throughput-fp32.json" 2>&1 | tail -n 20 | tee "$OUT/throughput.txt" \
    || echo "benchmark stopped (timeout)" | tee -a "$OUT/throughput.txt"
  # Stochastic depth's step time with and without skipping dropped branches (Huang et al.: ~25 %).
  timeout "${WINDOW_SD_BENCHMARK_S:-90}" $python benchmarks/stochastic_depth_step.py --depth 56 --repeats 10 \
    --json "$OUT/stochastic-depth-step.json" 2>&1 | tail -n 8 | tee "$OUT/stochastic_depth.txt" \
    || echo "benchmark stopped (timeout)" | tee -a "$OUT/stochastic_depth.txt"
  ;;
call2)
  cp .cifar/p2 "$parts/"
  ls -l "$parts"
  ;;
mnist)
  mkdir -p "$data" && xz -dc .gpu/mnist.tar.xz | tar -x -C "$data"
  ls -l "$data/mnist"
  ;;
call3)
  minutes=${1:?call3 needs the campaign budget in minutes}
  parallel=${2:-3}
  cp .cifar/p3 "$parts/"
  cat "$parts/p1" "$parts/p2" "$parts/p3" | xz -d | tar -x -C "$data"
  mkdir -p "$results/gpu"
  # Results already in the repository are skipped (the campaign sees them); only what this
  # window adds goes back.
  cp -r results/gpu/. "$results/gpu/" 2>/dev/null || true
  touch "$base/campaign-start"
  set +e
  # shellcheck disable=SC2086
  $python -m resnet_keras campaign --scale paper --data-dir "$data" --work-dir "$work" \
    --results-dir "$results/gpu" --budget-min "$minutes" --parallel "$parallel" \
    ${WINDOW_CAMPAIGN_ARGS:-} 2>&1 | tee "$OUT/campaign.log"
  set -e
  # Back: the new results (json + kept models), the logs, and the unfinished checkpoints,
  # each under 15 MiB a file (the tool returns at most 8 files of 16 MiB).
  (cd "$results" && find gpu -newer "$base/campaign-start" -type f | tar -cf - -T - ) \
    | xz -3 -T0 > "$base/results.tar.xz"
  (cd "$work" && tar --exclude='*/tensorboard' --exclude='*/model.keras' -cf - paper \
      2>/dev/null || true) | xz -3 -T0 > "$base/work.tar.xz"
  (cd "$work" && find . -name train.log | tar -cf - -T -) | xz -3 > "$OUT/logs.tar.xz"
  split -b 15M -d "$base/results.tar.xz" "$OUT/results.tar.xz.part"
  split -b 15M -d "$base/work.tar.xz" "$OUT/work.tar.xz.part"
  ls -l "$OUT"
  ;;
*)
  echo "unknown phase $phase" >&2; exit 2 ;;
esac
