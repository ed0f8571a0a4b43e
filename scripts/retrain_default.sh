#!/usr/bin/env bash
# Train the default model on the full training mixture and validate it on every held-out
# sample: the numbers of the issue-24 acceptance (FatJet, SubJet, Photon, fakes from jets) and
# those of the earlier collections, in one table.
#
#   bash scripts/make_samples.sh all             # the samples (about 90 min with -j 2)
#   bash scripts/retrain_default.sh              # train (about 75 min), run, validate
#   OUT=flashsim/default_model bash scripts/retrain_default.sh   # to replace the shipped one
#
# Writes the bundle to $OUT (default models/cms_like), the flash files and reports under
# $WORK (default reports/retrain), and the summary to benchmarks/results/retrain_default.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-models/cms_like}
WORK=${WORK:-reports/retrain}
mkdir -p "$WORK"
TRAIN=(ttbar wjets qcd qcd_lowpt zprime_tt qcd_boosted zh_bb_boosted gjets hgg)
VALID=(ttbar dy qcd zh_bb zprime_ll zprime_tt zh_bb_boosted qcd_boosted hgg gjets)
if [[ ! -e "$OUT/flashsim-model.json" || -n "${RETRAIN:-}" ]]; then
  data=()
  for s in "${TRAIN[@]}"; do data+=(--data "samples/${s}_train.root"); done
  time flashsim train pipelines/cms_like.yaml "${data[@]}" -o "$OUT" --overwrite
fi
for s in "${VALID[@]}"; do
  flashsim run "samples/${s}_valid.root" --model "$OUT" -o "$WORK/flash_$s.root" --overwrite -q \
    --seed 1
  flashsim validate --flash "$WORK/flash_$s.root" --full "samples/${s}_valid.root" \
    -o "$WORK/report_$s" --no-plots --overwrite -q || true
done
python - "$WORK" "${VALID[@]}" <<'PY' | tee benchmarks/results/retrain_default.txt
import json, sys

work, samples = sys.argv[1], sys.argv[2:]


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


for s in samples:
    try:
        m = json.load(open(f"{work}/report_{s}/metrics.json"))
    except FileNotFoundError:
        print(f"{s}: no report")
        continue
    aucs = []
    for name, c in m.get("collections", {}).items():
        auc = get(c, "auc")
        if auc:
            aucs.append(f"{name} {auc['value']:.3f}±{auc['error']:.3f}")
    print(f"{s}: classifier AUC " + ", ".join(aucs))
    for key, v in m.get("physics", {}).items():
        if "/msoftdrop_peak/" in key and v.get("n_full", 0) >= 500:
            print(f"  m_SD {key.rsplit('/', 1)[1]}: peak {100 * v['peak_rel_diff']:+.1f} ± "
                  f"{100 * v['peak_rel_error']:.1f}%, width {100 * v['width_rel_diff']:+.1f} ± "
                  f"{100 * v['width_rel_error']:.1f}% ({v['n_full']} jets)")
        elif key.endswith("_vs_QCD"):
            print(f"  {key}: ROC AUC {v['auc_flash']:.3f} / {v['auc_full']:.3f} "
                  f"({v['auc_flash'] - v['auc_full']:+.3f})")
    for key, v in (m.get("photons") or {}).items():
        if isinstance(v, dict) and "chi2_ndf" in v:
            print(f"  {key}: chi2/ndf {v['chi2_ndf']:.2f} (ndf {v['ndf']})")
    for key, v in (m.get("jet_fakes") or {}).items():
        if isinstance(v, dict) and "chi2_ndf" in v:
            print(f"  {key}: chi2/ndf {v['chi2_ndf']:.2f} (ndf {v['ndf']})")
    for key, v in (m.get("subjets") or {}).items():
        if isinstance(v, dict) and "ks" in v:
            print(f"  {key}: KS {v['ks']:.3f}")
PY
