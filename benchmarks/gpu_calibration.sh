#!/usr/bin/env bash
# Calibrate one NVIDIA GPU and check the estimator against real training steps (issue 6).
#
#   OUT=/some/dir bash benchmarks/gpu_calibration.sh
#
# Writes into $OUT: nvidia-smi.txt, env.txt, gpu-profile.yaml, calibrate.log,
# measure-<model>-b<batch>-s<seq>.json (+ .log), summary.txt. Needs torch with CUDA already
# installed (it is not installed here); gigatrain itself is installed from this checkout only
# if it is not importable. Budget: under 6 minutes on an H100/H200.
set -uo pipefail   # no -e: one failed measurement must not lose the others

OUT="${OUT:-$(pwd)/gpu-calibration-out}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.." || exit 1
PY="${PYTHON:-python}"
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/summary.txt"; }

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv \
  >> "$OUT/nvidia-smi.txt" 2>&1 || true

if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  log "torch with CUDA is not available: $("$PY" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1)"
  exit 1
fi
if ! "$PY" -c 'import gigatrain.calibrate.measure' 2>/dev/null; then
  log "installing gigatrain from this checkout (torch is already present)"
  "$PY" -m pip install -q -e . > "$OUT/pip.log" 2>&1 || { log "pip install -e . failed (see pip.log)"; exit 1; }
fi
GT=("$PY" -m gigatrain.interfaces.cli)
"$PY" - > "$OUT/env.txt" 2>&1 <<'EOF'
import torch, platform
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("device", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
print("python", platform.python_version())
EOF
cat "$OUT/env.txt" | tee -a "$OUT/summary.txt"

log "calibrate --device cuda"
timeout 240 "${GT[@]}" calibrate --device cuda -o "$OUT/gpu-profile.yaml" --force \
  > "$OUT/calibrate.log" 2>&1
rc=$?
cat "$OUT/calibrate.log" >> "$OUT/summary.txt"
if [ $rc -ne 0 ] || [ ! -f "$OUT/gpu-profile.yaml" ]; then
  log "calibration failed (rc=$rc); measuring with a quick in-process calibration instead"
  PROFILE_ARGS=()
else
  PROFILE_ARGS=(--profile "$OUT/gpu-profile.yaml")
fi

# 3 model sizes x 2 batch shapes (batch, seq)
for model in gpt-125m llama-350m llama-1b; do
  for shape in "8 1024" "16 2048"; do
    read -r batch seq <<< "$shape"
    name="measure-${model}-b${batch}-s${seq}"
    if [ $(( $(date +%s) - T0 )) -gt 320 ]; then log "time budget spent; skipping $name"; continue; fi
    log "$name"
    timeout 90 "${GT[@]}" measure --device cuda "${PROFILE_ARGS[@]}" --model "$model" \
      --batch "$batch" --seq "$seq" --steps 10 --warmup 3 --json \
      > "$OUT/$name.json" 2> "$OUT/$name.log"
    log "  rc=$? $(tail -c 300 "$OUT/$name.log" | tr '\n' ' ')"
  done
done

"$PY" - "$OUT" >> "$OUT/summary.txt" 2>&1 <<'EOF'
import json, pathlib, sys
rows = []
for p in sorted(pathlib.Path(sys.argv[1]).glob("measure-*.json")):
    try:
        r = json.loads(p.read_text())
    except Exception as e:  # noqa: BLE001
        rows.append(f"{p.name}: no result ({type(e).__name__})")
        continue
    comps = " ".join(f"{k}={v['measured_s']*1e3:.1f}/{v['predicted_s']*1e3:.1f}ms"
                     for k, v in r.get("components", {}).items())
    rows.append(f"{r['model']:11s} b={r['batch']:<3d} s={r['seq']:<5d} measured {r['measured_step_s']*1e3:8.1f} ms "
                f"predicted {r['predicted_step_s']*1e3:8.1f} ms error {r['step_rel_error']:+.1%} | "
                f"mem {r['measured_memory_bytes']/2**30:.2f}/{r['predicted_memory_bytes']/2**30:.2f} GiB "
                f"({r['memory_rel_error']:+.1%}) | {comps}")
print("\n".join(rows))
EOF
log "done"
tail -n 12 "$OUT/summary.txt"
