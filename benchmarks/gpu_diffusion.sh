#!/usr/bin/env bash
# Prepared GPU check for the diffusion generators: under five minutes on one GPU.
#
#   1. image_diffusion on CUDA: a Stable-Diffusion-1.5-sized pipeline with random weights (built
#      locally, nothing downloaded), 512 px, 20 DDIM steps, batch 4: synthgen images/s against the
#      raw StableDiffusionPipeline call (ratio), fp16;
#   2. image_ddpm on CUDA: DDIM sampling images/s against a raw UNet loop, then the digits quality
#      figure (1,500 training steps, 1-NN accuracy of the samples) as in the README.
#
# The device image has torch and transformers but not diffusers.  Prepare once, on this machine:
#   .venv/bin/pip download --no-deps -d .gpu-wheels diffusers==0.42.1 importlib_metadata
# then run there with carry [".gpu-wheels"]:  bash benchmarks/gpu_diffusion.sh
# Results go to $OUT (or ./gpu-out): bench.txt, ddpm.txt, image_ddpm_gpu.png.
set -euo pipefail
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if ! "$PY" -c "import diffusers" 2>/dev/null; then
  if [ ! -d .gpu-wheels ]; then
    echo "diffusers is missing and there is no .gpu-wheels folder (see the header of this script)" >&2
    exit 2
  fi
  "$PY" -m pip install -q --no-index --find-links .gpu-wheels diffusers importlib_metadata
fi
# synthgen.generators maps to ./generators only through the installed package
"$PY" -c "import synthgen.generators.image" 2>/dev/null || "$PY" -m pip install -q --no-deps --no-build-isolation -e .
"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PYEOF
timeout 170 "$PY" benchmarks/bench_image_generators.py --only diffusion ddpm --device cuda --arch sd15 --size 512 \
  --steps 20 --batch 4 --n 200 2>&1 | grep -v -i warn | tee "$OUT/bench.txt"
timeout 100 "$PY" benchmarks/bench_ddpm_digits.py --steps 1500 --per-class 50 --cache-dir "$OUT/ddpm-cache" \
  --grid "$OUT/image_ddpm_gpu.png" 2>&1 | tee "$OUT/ddpm.txt"
rm -rf "$OUT/ddpm-cache"
