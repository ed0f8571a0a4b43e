#!/usr/bin/env bash
# The FatJet flash model of issue 24, trained and validated on its own (the shipped default
# model does not have FatJet yet): the FatJet section of pipelines/cms_like.yaml, trained on
# boosted Z' -> tt, ZH (H -> bb) and QCD (pT-hat > 400 GeV) samples and validated on held-out
# seeds of the same processes and on ttbar (a process it was not trained on).
#
#   bash scripts/make_samples.sh boosted     # the samples (about 25 min with -j 2)
#   bash benchmarks/fatjet_dev.sh            # train (about 5 min), run, validate
#
# Prints, per validation sample, the FatJet classifier AUC, the efficiency chi2/ndf, the
# soft-drop mass peaks and widths per class of generated jet and the boosted taggers' ROC AUCs
# (flash / full), and writes them to benchmarks/results/fatjet_dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-$(mktemp -d)}
python - "$WORK/fatjet_spec.yaml" <<'PY'
import sys, yaml
spec = yaml.safe_load(open("pipelines/cms_like.yaml"))
spec["collections"] = {"FatJet": spec["collections"]["FatJet"]}
spec.pop("event", None)
spec["name"], spec["description"] = "fatjet_dev", "the FatJet section of cms_like.yaml alone"
yaml.safe_dump(spec, open(sys.argv[1], "w"), sort_keys=False)
PY
flashsim train "$WORK/fatjet_spec.yaml" --data samples/zprime_tt_train.root \
  --data samples/qcd_boosted_train.root --data samples/zh_bb_boosted_train.root \
  -o "$WORK/model" --overwrite -q
for s in zprime_tt_valid zh_bb_boosted_valid qcd_boosted_valid ttbar_boosted_check; do
  flashsim run "samples/$s.root" --model "$WORK/model" -o "$WORK/flash_$s.root" --overwrite -q --seed 1
  flashsim validate --flash "$WORK/flash_$s.root" --full "samples/$s.root" -o "$WORK/report_$s" \
    --collections FatJet --no-plots --overwrite -q || true
done
python - "$WORK" <<'PY' | tee benchmarks/results/fatjet_dev.txt
import json, sys
work = sys.argv[1]
for s in ["zprime_tt_valid", "zh_bb_boosted_valid", "qcd_boosted_valid", "ttbar_boosted_check"]:
    m = json.load(open(f"{work}/report_{s}/metrics.json"))
    c = m["collections"]["FatJet"]
    eff = ", ".join(f"{k} {v['chi2_ndf']:.2f}" for k, v in c["efficiency"].items())
    print(f"{s}: FatJet classifier AUC {c['auc']['value']:.3f} ± {c['auc']['error']:.3f} "
          f"({c['counts']['full_reconstructed']} jets); efficiency chi2/ndf {eff}")
    for key, v in m["physics"].items():
        if "/msoftdrop_peak/" in key:
            print(f"  m_SD {key.rsplit('/', 1)[1]:4s} ({v['n_full']} jets): peak "
                  f"{v['peak_flash']:.1f} / {v['peak_full']:.1f} GeV "
                  f"({100 * v['peak_rel_diff']:+.1f} ± {100 * v['peak_rel_error']:.1f}%), width "
                  f"{v['width_flash']:.1f} / {v['width_full']:.1f} GeV "
                  f"({100 * v['width_rel_diff']:+.1f} ± {100 * v['width_rel_error']:.1f}%)")
        elif key.endswith("_vs_QCD"):
            print(f"  {key.split('/', 1)[1]}: ROC AUC {v['auc_flash']:.3f} / {v['auc_full']:.3f} "
                  f"({v['auc_flash'] - v['auc_full']:+.3f})")
PY
