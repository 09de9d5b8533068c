#!/usr/bin/env bash
# The GPU check in one command: every CUDA-only test and benchmark, one report.
#
#   bash benchmarks/gpu_check.sh [REPORT]         # default REPORT: gpu_check_report.md
#
# Runs, on a machine with an NVIDIA GPU: the golden cases on every CUDA backend (triton,
# triton-no-spill, torch) beside the CPU's, and the sm_90 compile check,
# benchmarks/bench_kde.py --no-cpu, benchmarks/bench_attribution.py --device cuda and
# benchmarks/bench_evaluate.py --device cuda (photos per second of the default evaluation). Each step's
# output goes into REPORT, a failing step too, and the script exits non-zero if any step failed.
# Python packages the machine lacks (captum, ttach, piq, grad-cam) can be given as wheels in .whl/
# at the repository's root: they are installed into a temporary folder first. ADVISE_SHARED (default
# ../shared) holds the golden cases, the photos and the weights cache.
set -uo pipefail
cd "$(dirname "$0")/.."
report=${1:-gpu_check_report.md}
python=${PYTHON:-python3}
export ADVISE_SHARED="${ADVISE_SHARED:-$(cd .. && pwd)/shared}"
export TORCH_HOME="${TORCH_HOME:-$ADVISE_SHARED/assets/torch-home}"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  site=$(mktemp -d)
  $python -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl || exit 1
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

status=0
step() {
  local title=$1
  shift
  printf '\n## %s\n\n`%s`\n\n```\n' "$title" "$*" >>"$report"
  local started=$SECONDS
  if "$@" >>"$report" 2>&1; then
    printf '```\n\npassed in %d s\n' $((SECONDS - started)) >>"$report"
  else
    printf '```\n\n**FAILED** (exit %d) after %d s\n' $? $((SECONDS - started)) >>"$report"
    status=1
  fi
  echo "$title: $(tail -n 1 "$report")"
}

{
  echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  $python -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '| CUDA', torch.cuda.is_available())"
} >"$report" 2>&1

step "golden cases on every backend and the sm_90 compile check" \
  $python -m pytest -q -p no:cacheprovider -m "not slow" -rs tests/test_density_golden.py tests/test_fused_kernel_compiles.py
step "adaptive_kde on every CUDA backend" $python benchmarks/bench_kde.py --no-cpu --repeats 5
step "LayerADVISE against Grad-CAM on CUDA" $python benchmarks/bench_attribution.py --device cuda --repeats 5
step "evaluate on CUDA: photos per second" \
  $python benchmarks/bench_evaluate.py --device cuda --threads 4 --rounds 2 --photos 16
echo "report: $report"
exit $status
