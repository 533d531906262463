#!/usr/bin/env bash
# The README's format table: every scheme × (mean NLL, size on disk, compress time) on stories260K and on a synthetic
# model, RTN (QuantizationModifier) and GPTQ, and FP8 with an fp8 KV cache (kv_cache_scheme). Usage: bash bench/formats/table.sh [OUT_DIR]   (from the repo root;
# needs ../shared/data). fp4 groups (16, 32) do not divide stories260K's MLP width 172, so those recipes ignore down_proj,
# as llm-compressor's own NVFP4/MXFP4 examples on such widths must.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/offload-formats}
data=../shared/data
rm -rf "$out"; mkdir -p "$out"
dotnet build -c Release src/Coordinator -v q -nologo >/dev/null
offload=src/Coordinator/bin/Release/net10.0/offload
$offload import-llama2c $data/stories260K.bin --tokenizer $data/tok512.bin --out "$out/stories260K" >/dev/null
$offload synth --preset small --out "$out/synth" >/dev/null

row() { # model label scheme method ignore samples seq [kv: strategy of an fp8 kv_cache_scheme]
  local model=$1 label=$2 scheme=$3 method=$4 ignore=$5 samples=$6 seq=$7 kv=${8:-} dir="$out/$2-$3-$4${8:+-kv-$8}"
  local modifier=QuantizationModifier; [ "$method" = gptq ] && modifier=GPTQModifier
  local kvargs="" shown=$scheme
  if [ -n "$kv" ]; then
    kvargs=", kv_cache_scheme: {num_bits: 8, type: float, symmetric: true, strategy: $kv, dynamic: false}"
    shown="$scheme + fp8 kv cache ($kv)"
  fi
  printf 'quant_stage:\n  quant_modifiers:\n    %s: {targets: [Linear], scheme: %s, ignore: [%s]%s}\n' "$modifier" "$scheme" "$ignore" "$kvargs" > "$dir.yaml"
  local t0 t1 nll size
  t0=$(date +%s.%N)
  if ! $offload compress --model "$model" --recipe "$dir.yaml" --dataset $data/tinystories_valid_head.txt --dataset-split last \
    --samples "$samples" --seq-len "$seq" --devices cpu:0 --device-memory 1GiB --out "$dir" --progress none >/dev/null 2>"$dir.err"; then
    printf '| %s | %s | %s | refused: %s | - | - |\n' "$label" "$shown" "$method" "$(grep "^offload:" "$dir.err" | sed 's/|/\\|/g' | head -c 140)"
    return
  fi
  t1=$(date +%s.%N)
  nll=$($offload eval --model "$dir" --text $data/tinystories_valid_head.txt --seq-len "$seq" --windows "$samples" | awk '/mean NLL/ {print $3}')
  size=$(du -b "$dir"/*.safetensors | awk '{s += $1} END {print s}')
  printf '| %s | %s | %s | %s | %s | %.1f |\n' "$label" "$shown" "$method" "$nll" "$size" "$(echo "$t1 - $t0" | bc)"
}

echo "| model | scheme | method | mean NLL | safetensors bytes | compress s |"
echo "|---|---|---|---:|---:|---:|"
for m in stories260K synth; do
  model="$out/$m"
  # stories260K: calibration = the last 64 × 512 tokens, evaluation = the first 64 × 512 (the quality table's protocol);
  # the synthetic model (random weights, bf16, hidden 512): 16 × 256 of each.
  if [ $m = stories260K ]; then samples=64 seq=512; else samples=16 seq=256; fi
  base=$($offload eval --model "$model" --text $data/tinystories_valid_head.txt --seq-len "$seq" --windows "$samples" | awk '/mean NLL/ {print $3}')
  printf '| %s | (unquantized) | - | %s | %s | - |\n' "$m" "$base" "$(du -b "$model"/*.safetensors | awk '{s += $1} END {print s}')"
  for scheme in W4A16 W8A8 W4AFP8 FP8 FP8_DYNAMIC FP8_BLOCK MXFP8A16 MXFP8 NVFP4A16 NVFP4 MXFP4A16 MXFP4; do
    ignore=lm_head
    case $scheme in NVFP4*|MXFP4*) [ $m = stories260K ] && ignore='lm_head, "re:.*down_proj"';; esac
    for method in rtn gptq; do row "$model" "$m" "$scheme" "$method" "$ignore" "$samples" "$seq"; done
  done
  # kv_cache_scheme: FP8 weights/inputs plus fp8 k/v scales per tensor and per KV head (spec §7).
  for kv in tensor attn_head; do
    for method in rtn gptq; do row "$model" "$m" FP8 "$method" lm_head "$samples" "$seq" "$kv"; done
  done
done
