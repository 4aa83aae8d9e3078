#!/usr/bin/env bash
# Regenerate the committed CPU-scale results (experiments/results/) on the embedded models.
# Each table is one multirun (or one per override set, see EXTRA); cells that share a step (e.g. the MATH+PRM800K SSFT generator
# of Tables 2, 3, 4, 7 and Fig. 1) compute it once through the step cache (outputs/steps).
#   bash experiments/run_cpu.sh [table ...]      (default: every table below)
# Extra Hydra overrides for every run can be passed in MATHFT_OVERRIDES. A table's EXTRA entry
# may hold several override sets separated by '|': one multirun each, aggregated together.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RESULTS=experiments/results
TABLES=${*:-table3_rerank table7_strategies fig1_topk table4_sequential table5_fewshot_style table2_ssft}
declare -A EXTRA=(
  # CPU scale: the small model only where noted (Gemma 3 270M cells take ~3x longer); the Gemma
  # cells listed are the ones Table 6 already computes (its generator, samples, xent evaluator)
  [table2_ssft]="model=smollm2_135m|model=gemma3_270m recipe=ssft data=math_prm800k"
  [table3_rerank]="model=smollm2_135m|model=gemma3_270m objective=xent"
  [table5_fewshot_style]="model=smollm2_135m"
  [table4_sequential]="objective=margin"   # the paper's better objective; xent: add objective=xent,margin
  [table6_cross_model]=""
  [table7_strategies]="|objective=margin"   # the paper's Table 7 is xent; margin beside it
  [fig1_topk]="objective=xent|objective=margin"
)
for t in $TABLES; do
  sweep="outputs/multirun/$t/cpu"
  rm -rf "$sweep"
  IFS='|' read -r -a sets <<< "${EXTRA[$t]}"
  [ ${#sets[@]} -eq 0 ] && sets=("")
  for i in "${!sets[@]}"; do
    echo "== $t: $PY -m mathft.pipeline -m experiment=$t ${sets[$i]} ${MATHFT_OVERRIDES:-}"
    $PY -m mathft.pipeline -m "experiment=$t" ${sets[$i]} ${MATHFT_OVERRIDES:-} \
        "hydra.sweep.dir=$sweep/$i" logger.offline=true
  done
  $PY experiments/aggregate.py "$sweep" --table "$t" --out "$RESULTS/$t" --readme experiments/README.md
  # keep each cell's metrics and figure beside the aggregated table (this sweep's cells only)
  rm -rf "$RESULTS/$t/cells"
  find "$sweep" -name metrics.json -o -name figure1.png | while read -r f; do
    cell=$(realpath --relative-to="$sweep" "$(dirname "$f")" | tr / _); mkdir -p "$RESULTS/$t/cells/$cell"; cp "$f" "$RESULTS/$t/cells/$cell/"
  done
done
