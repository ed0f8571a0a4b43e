#!/usr/bin/env bash
# Every refsim sample the default model and its fidelity benchmark use, in one place.
#
#   bash scripts/make_samples.sh train   # the training mixture (~45 min with -j 2)
#   bash scripts/make_samples.sh valid   # held-out samples, seeds used nowhere in training
#   bash scripts/make_samples.sh boosted # Z' -> tt, boosted ZH (H -> bb), QCD above 400 GeV:
#                                        # FatJet/SubJet validation (issue 24)
#   bash scripts/make_samples.sh hepmc   # 10k ttbar as refsim + HepMC3 (~2 GB), the round trip
#                                        # and speed of `flashsim gen` (benchmarks/gen_hepmc.py)
#   bash scripts/make_samples.sh all     # train and valid
#
# Existing files are kept (delete one to make it again). Output: samples/ (git-ignored).
# The default model is trained on ttbar + wjets + qcd (two pT-hat ranges), the boosted samples
# (Z' -> tt, boosted ZH with H -> bb, QCD above 400 GeV: FatJet and SubJet) and the photon
# samples (gamma + jets, H -> gamma gamma: Photon); dy, zh_bb and zprime_ll are never trained
# on (processes the model has not seen). See data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p samples
JOBS=${JOBS:-2}

make() {  # make FILE PROCESS EVENTS SEED [extra options]
  local file=$1 process=$2 events=$3 seed=$4
  shift 4
  if [[ -e samples/$file ]]; then
    echo "samples/$file exists, kept"
    return
  fi
  echo "samples/$file: $process, $events events, seed $seed"
  flashsim refsim generate --process "$process" -n "$events" --seed "$seed" -j "$JOBS" \
    -o "samples/$file" "$@"
}

train() {
  make ttbar_train.root ttbar 50000 1
  make wjets_train.root wjets 15000 11
  make qcd_train.root qcd 15000 12 --pthat-min 30
  # soft QCD (pT-hat > 10 GeV): events with few or no gen jets and little gen MET, the corner
  # of the event-level conditions where dy lives and no other training process goes
  make qcd_lowpt_train.root qcd 10000 13 --pthat-min 10
  # boosted tops, H -> bb and their QCD background (FatJet, SubJet; issue 24)
  make zprime_tt_train.root zprime_tt 10000 18
  make qcd_boosted_train.root qcd 10000 20 --pthat-min 400
  make zh_bb_boosted_train.root zh_bb_boosted 5000 19
  # prompt photons (Photon; issue 24)
  make gjets_train.root gjets 10000 24
  make hgg_train.root hgg 5000 25
}

valid() {
  make ttbar_valid.root ttbar 20000 2
  make dy_valid.root dy 20000 3
  make qcd_valid.root qcd 10000 4 --pthat-min 30
  make zh_bb_valid.root zh_bb 10000 6
  make zprime_ll_valid.root zprime_ll 10000 7
  make zprime_tt_valid.root zprime_tt 5000 8
  make zh_bb_boosted_valid.root zh_bb_boosted 5000 9
  make qcd_boosted_valid.root qcd 5000 10 --pthat-min 400
  make hgg_valid.root hgg 20000 14
  make gjets_valid.root gjets 20000 15
}

boosted() {  # boosted samples alone: FatJet (benchmarks/fatjet_dev.sh)
  make zprime_tt_train.root zprime_tt 10000 18
  make qcd_boosted_train.root qcd 10000 20 --pthat-min 400
  make zh_bb_boosted_train.root zh_bb_boosted 5000 19
  make zprime_tt_valid.root zprime_tt 5000 8
  make zh_bb_boosted_valid.root zh_bb_boosted 5000 9
  make qcd_boosted_valid.root qcd 5000 10 --pthat-min 400
  make ttbar_boosted_check.root ttbar 10000 12
}

hepmc() {
  # One run writes both: refsim's NanoAOD and the same events as HepMC3, which flashsim gen
  # reads back; a lone file of the pair is replaced.
  if [[ -e samples/rt_ttbar10k.root && -e samples/rt_ttbar10k.hepmc3 ]]; then
    echo "samples/rt_ttbar10k.root and .hepmc3 exist, kept"
    return
  fi
  echo "samples/rt_ttbar10k.root + .hepmc3: ttbar, 10000 events, seed 11"
  flashsim refsim generate --process ttbar -n 10000 --seed 11 -j "$JOBS" \
    -o samples/rt_ttbar10k.root --hepmc samples/rt_ttbar10k.hepmc3 --overwrite
}

case "${1:-all}" in
  train) train ;;
  valid) valid ;;
  hepmc) hepmc ;;
  boosted) boosted ;;
  all) train; valid ;;
  *) echo "usage: $0 [train|valid|boosted|hepmc|all]" >&2; exit 2 ;;
esac
