#!/usr/bin/env bash
# The matmul, forward and train benchmark suites on a machine with an NVIDIA GPU, in Node through
# Dawn on the NVIDIA Vulkan driver (BENCHMARKS.md, "On a machine with a GPU"), in about 8 minutes,
# with the adapter's measured ceiling (f32/f16 FMA, bandwidth), every matmul variant, and the
# kernel tuner's choice. Results (JSON per suite, the printed tables, the log) go to $OUT if set,
# else bench-results/gpu-<date>/.
#
#   scripts/gpu-bench.sh            run everything (each suite under its own time limit)
#   scripts/gpu-bench-pack.mjs      (on a networked machine, first) packs the Node dependencies into
#                                   .cache/gpu-bench/node_modules.tar.gz, ~20 MiB, for a GPU machine
#                                   without network: this script unpacks it when node_modules is absent
#
# Nothing here changes the machine outside the repository (a local Vulkan ICD file is written under
# .cache/gpu-bench/ if the driver's own is not found).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEST="${OUT:-bench-results/gpu-$(date -u +%Y%m%dT%H%M%SZ)}"
case "$DEST" in /*) ;; *) DEST="$ROOT/$DEST" ;; esac
mkdir -p "$DEST"
# GPU_BENCH_DRY=1: a rehearsal on a software adapter with tiny shapes (checks this script, no figures).
DRY="${GPU_BENCH_DRY:-}"
LOG="$DEST/gpu-bench.log"
exec > >(tee -a "$LOG") 2>&1
echo "gpu-bench: $(date -u +%FT%TZ), results in $DEST"
STARTED=$(date +%s)

command -v node >/dev/null || { echo "gpu-bench: node is not installed"; exit 2; }
echo "node $(node --version)"

# 1. Dependencies: the installed ones, or the packed archive.
if [ ! -f node_modules/webgpu/package.json ]; then
  if [ -f .cache/gpu-bench/node_modules.tar.gz ]; then
    echo "gpu-bench: unpacking .cache/gpu-bench/node_modules.tar.gz"
    tar xzf .cache/gpu-bench/node_modules.tar.gz || exit 2
  else
    echo "gpu-bench: no node_modules and no .cache/gpu-bench/node_modules.tar.gz (run npm ci, or scripts/gpu-bench-pack.mjs where there is network)"
    exit 2
  fi
fi

# 2. The NVIDIA Vulkan driver: its ICD file, or one written here pointing at the driver library.
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$DEST/nvidia-smi.csv"
ICD="${VK_ICD_FILENAMES:-}"
if [ -z "$ICD" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /etc/vulkan/icd.d/nvidia_icd.x86_64.json; do
    [ -f "$f" ] && ICD="$f" && break
  done
fi
if [ -z "$ICD" ] && [ -z "$DRY" ]; then
  LIB=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0/ {print $NF; exit}')
  [ -z "$LIB" ] && LIB=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -1)
  if [ -n "$LIB" ]; then
    mkdir -p .cache/gpu-bench
    ICD="$ROOT/.cache/gpu-bench/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$LIB" > "$ICD"
    echo "gpu-bench: wrote $ICD for $LIB"
  else
    echo "gpu-bench: no NVIDIA Vulkan ICD found (nvidia_icd.json, libGLX_nvidia.so.0); Dawn would fall back to a software adapter"
    exit 3
  fi
fi
[ -n "$ICD" ] && export VK_ICD_FILENAMES="$ICD"
echo "VK_ICD_FILENAMES=$VK_ICD_FILENAMES"

# 3. The adapter Dawn gets: refuse to spend the time on a software one.
timeout 60 node bin/prefstudio.mjs gpu --json > "$DEST/adapter.json" || { echo "gpu-bench: prefstudio gpu failed"; cat "$DEST/adapter.json"; exit 3; }
cat "$DEST/adapter.json"
if [ -z "$DRY" ] && grep -Eiq '"(swiftshader|llvmpipe|software)"|isFallbackAdapter": true|llvmpipe' "$DEST/adapter.json"; then
  echo "gpu-bench: Dawn got a software adapter, not the GPU (check the ICD and the driver)"
  exit 3
fi

run() { # name, limit (s), command...
  local name=$1 limit=$2; shift 2
  echo; echo "=== $name (limit ${limit} s) ==="
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$DEST/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $(( $(date +%s) - t0 )) s ==="
}

# SmolLM2-135M's linear layers at M = 512 (2 x 2 pairs x 128 tokens): q/o 576x576, k/v 576x192,
# MLP 576x1536 and 1536x576, the LM head 576x49152; the demo's at M = 256; one decoding row; and
# large squares, where a GPU reaches its peak.
SHAPES=512x576x576,512x576x192,512x576x1536,512x1536x576,512x576x49152,256x128x384,256x384x128,256x128x2048,1x576x1536,2048x2048x2048,4096x4096x4096
BATCHES=1x128,8x256,32x256
TRAIN=4x64,16x128
TUNE=512x576x576,512x576x1536,512x1536x576,1x576x1536,256x128x384
if [ -n "$DRY" ]; then SHAPES=64x32x48,1x32x48; BATCHES=1x16; TRAIN=1x16; TUNE=64x32x48; fi

# 4. The suites (Node, our engine; onnxruntime-web's columns need the browser run below).
# bench.mjs checks the --models folders whatever the suite: the shared fixtures only where present.
FWD_MODELS=demo
[ -d ../shared/fixtures/models/tiny-random-llama-fp16 ] && FWD_MODELS=demo,fixtures
run matmul 170 node scripts/bench.mjs --node --suite matmul --models "$FWD_MODELS" --shapes "$SHAPES" --variants all --target-ms 200 --out "$DEST/matmul.json"
run forward 100 node scripts/bench.mjs --node --suite forward --models "$FWD_MODELS" --batches "$BATCHES" --target-ms 200 --out "$DEST/forward.json"
run train 120 node scripts/bench.mjs --node --suite train --models "$FWD_MODELS" --train-batches "$TRAIN" --target-ms 200 --out "$DEST/train.json"

# 5. The tuner's choices for SmolLM2-135M-shaped and demo products, measured here (3 s budget).
run tune 60 node bin/prefstudio.mjs gpu --tune --shapes "$TUNE" --tune-cache "$DEST/kernel-tuning.json" --json

# 6. If Chromium is here and time is left: the matmul suite in the browser, with onnxruntime-web's
# columns, on the GPU (the Chrome team's headless Vulkan flags; untested on a GPU so far).
LEFT=$(( 470 - ($(date +%s) - STARTED) ))
if [ -z "$DRY" ] && command -v chromium >/dev/null && [ -d node_modules/playwright-core ] && [ -d node_modules/onnxruntime-web ] && [ "$LEFT" -gt 60 ]; then
  run matmul-browser "$LEFT" node scripts/bench.mjs --suite matmul --models "$FWD_MODELS" --shapes 512x576x1536,2048x2048x2048 --variants all --target-ms 200 \
    --chromium-arg=--enable-features=Vulkan --chromium-arg=--use-angle=vulkan --chromium-arg=--disable-vulkan-surface \
    --timeout-s "$LEFT" --out "$DEST/matmul-browser.json"
else
  echo "gpu-bench: browser matmul skipped (chromium, playwright-core or onnxruntime-web missing, or ${LEFT} s left)"
fi
echo; echo "gpu-bench: done in $(( $(date +%s) - STARTED )) s; results in $DEST"
