"""The IRIS-HEP Analysis Grand Challenge ttbar lepton+jets selection as a coffea processor,
and the statistics that compare its output between a full-simulation and a flash file.

The processor reads only NanoAOD v12 branches through coffea's NanoAODSchema and does not know
whether a file is a full (refsim) or a flash (``flashsim run``) one. Selection (AGC, CMS
NanoAOD version):

* electrons: pT > 30 GeV, |η| < 2.1, ``cutBased == 4`` (tight), ``sip3d < 4``;
* muons: pT > 30 GeV, |η| < 2.1, ``tightId``, ``sip3d < 4``, ``pfRelIso04_all < 0.15``;
* exactly one such lepton;
* jets: pT > 30 GeV, |η| < 2.4, ``isTightLeptonVeto`` (coffea's, from ``Jet_jetId``);
  b tag: ``btagDeepFlavB > btag_wp`` (AGC's 0.2783 by default);
* regions ``4j1b`` (≥ 4 jets, exactly 1 b tag; observable HT, the scalar pT sum of the jets) and
  ``4j2b`` (≥ 4 jets, ≥ 2 b tags; observable the mass of the three-jet combination with the
  largest pT among those holding at least one b-tagged jet).

Also filled: jet and b-tag multiplicities after the lepton selection, selected jets and b-tagged
jets of the ≥ 4-jet events by ``Jet_hadronFlavour`` (5, 4, 0), and how many of those jets have a
generator match (``Jet.matched_gen``, from ``Jet_genJetIdx``). Histograms are unweighted event
counts (refsim's ``genWeight`` is 1).

Used by ``benchmarks/agc_ttbar.py`` and ``tests/test_analysis_agc.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import hist
import numpy as np
from coffea import processor
from scipy import stats

AGC_BTAG_WP = 0.2783
FLAVOURS = (5, 4, 0)
CUTFLOW = ("events", "one_lepton", "4j", "4j1b", "4j2b")

# Every branch process() reads (tests/test_analysis_agc.py checks this against coffea's
# access log and against both files).
BRANCHES = (
    "nElectron",
    "Electron_pt",
    "Electron_eta",
    "Electron_cutBased",
    "Electron_sip3d",
    "nMuon",
    "Muon_pt",
    "Muon_eta",
    "Muon_tightId",
    "Muon_sip3d",
    "Muon_pfRelIso04_all",
    "nJet",
    "Jet_pt",
    "Jet_eta",
    "Jet_phi",
    "Jet_mass",
    "Jet_jetId",
    "Jet_btagDeepFlavB",
    "Jet_hadronFlavour",
    "Jet_genJetIdx",
    "nGenJet",
    "GenJet_pt",
)

# Observable histograms: name -> (axis label, bins, low, high). HT and m(bjj) as in the AGC.
OBSERVABLES = {
    "4j1b_ht": ("HT [GeV]", 25, 50.0, 550.0),
    "4j2b_trijet_mass": ("m(bjj) [GeV]", 25, 50.0, 550.0),
    "njet": ("selected jets (one lepton)", 10, -0.5, 9.5),
    "nbtag": ("b-tagged jets (one lepton)", 5, -0.5, 4.5),
}


def _histogram(name: str) -> hist.Hist:
    label, bins, low, high = OBSERVABLES[name]
    return hist.Hist(hist.axis.Regular(bins, low, high, name="x", label=label))


class AGCTtbarProcessor(processor.ProcessorABC):
    """AGC ttbar lepton+jets selection; ``btag_wp`` is the btagDeepFlavB working point."""

    def __init__(self, btag_wp: float = AGC_BTAG_WP) -> None:
        self.btag_wp = float(btag_wp)

    def process(self, events):
        electrons = events.Electron
        electrons = electrons[
            (electrons.pt > 30)
            & (abs(electrons.eta) < 2.1)
            & (electrons.cutBased == 4)
            & (electrons.sip3d < 4)
        ]
        muons = events.Muon
        muons = muons[
            (muons.pt > 30)
            & (abs(muons.eta) < 2.1)
            & muons.tightId
            & (muons.sip3d < 4)
            & (muons.pfRelIso04_all < 0.15)
        ]
        one_lepton = (ak.num(electrons) + ak.num(muons)) == 1

        jets = events.Jet
        jets = jets[(jets.pt > 30) & (abs(jets.eta) < 2.4) & jets.isTightLeptonVeto]
        btagged = jets.btagDeepFlavB > self.btag_wp
        n_jets = ak.num(jets)
        n_btag = ak.sum(btagged, axis=1)
        four_jets = one_lepton & (n_jets >= 4)
        region_1b = four_jets & (n_btag == 1)
        region_2b = four_jets & (n_btag >= 2)

        out = {
            "cutflow": {
                "events": len(events),
                "one_lepton": int(ak.sum(one_lepton)),
                "4j": int(ak.sum(four_jets)),
                "4j1b": int(ak.sum(region_1b)),
                "4j2b": int(ak.sum(region_2b)),
            },
            "hists": {name: _histogram(name) for name in OBSERVABLES},
        }
        out["hists"]["njet"].fill(x=ak.to_numpy(n_jets[one_lepton]))
        out["hists"]["nbtag"].fill(x=ak.to_numpy(n_btag[one_lepton]))
        out["hists"]["4j1b_ht"].fill(x=ak.to_numpy(ak.sum(jets[region_1b].pt, axis=1)))

        # 4j2b: trijet with the largest pT among the combinations holding a b-tagged jet
        jets_2b = jets[region_2b]
        trijet = ak.combinations(jets_2b, 3, fields=["j1", "j2", "j3"])
        p4 = trijet.j1 + trijet.j2 + trijet.j3
        max_btag = np.maximum(
            trijet.j1.btagDeepFlavB,
            np.maximum(trijet.j2.btagDeepFlavB, trijet.j3.btagDeepFlavB),
        )
        p4 = p4[max_btag > self.btag_wp]
        best = ak.argmax(p4.pt, axis=1, keepdims=True)
        mass = ak.flatten(p4[best].mass, axis=1)
        out["hists"]["4j2b_trijet_mass"].fill(x=ak.to_numpy(ak.drop_none(mass)))

        # truth: flavour of the selected (b-tagged) jets of the >= 4-jet events, gen matches
        sel_jets = jets[four_jets]
        sel_tagged = sel_jets[btagged[four_jets]]
        flavour = ak.flatten(sel_jets.hadronFlavour)
        tagged_flavour = ak.flatten(sel_tagged.hadronFlavour)
        out["jets_by_flavour"] = {f: int(ak.sum(flavour == f)) for f in FLAVOURS}
        out["btag_by_flavour"] = {f: int(ak.sum(tagged_flavour == f)) for f in FLAVOURS}
        matched = ~ak.is_none(sel_jets.matched_gen, axis=1)
        out["jets_selected"] = int(ak.sum(ak.num(sel_jets)))
        out["jets_gen_matched"] = int(ak.sum(matched))
        return out

    def postprocess(self, accumulator):
        return accumulator


def run_processor(
    path: str | Path,
    proc: AGCTtbarProcessor | None = None,
    *,
    step_size: int = 100_000,
    entry_stop: int | None = None,
    access_log: list | None = None,
):
    """Run ``proc`` over the tree ``Events`` of ``path`` in chunks of ``step_size`` events.

    coffea's virtual mode reads only the branches the processor touches; pass a list as
    ``access_log`` to get their names.
    """
    import uproot
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    proc = proc or AGCTtbarProcessor()
    with uproot.open(path) as file:
        n_entries = file["Events"].num_entries
    stop = n_entries if entry_stop is None else min(entry_stop, n_entries)
    outputs = []
    for start in range(0, max(stop, 1), step_size):
        events = NanoEventsFactory.from_root(
            {str(path): "Events"},
            schemaclass=NanoAODSchema,
            mode="virtual",
            entry_start=start,
            entry_stop=min(start + step_size, stop),
            access_log=access_log,
        ).events()
        outputs.append(proc.process(events))
    return proc.postprocess(processor.accumulate(outputs))


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Chi2:
    """A χ² comparison of two histograms; ``ndf`` 0 (and p NaN) when no bin has entries."""

    chi2: float
    ndf: int
    p: float

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / self.ndf if self.ndf > 0 else math.nan


def poisson_yield(count: float, scale: float = 1.0) -> tuple[float, float]:
    """``count`` events with weight ``scale`` each: the yield and its Poisson error."""
    return scale * count, scale * math.sqrt(count)


def pull(a: float, error_a: float, b: float, error_b: float) -> float:
    """(a − b) / √(error_a² + error_b²) of two independent measurements; 0 if both errors are 0."""
    denominator = math.hypot(error_a, error_b)
    return (a - b) / denominator if denominator > 0 else 0.0


def chi2_histograms(
    counts_a: Sequence[float] | np.ndarray,
    counts_b: Sequence[float] | np.ndarray,
    *,
    scale_a: float = 1.0,
    scale_b: float = 1.0,
    normalised: bool = False,
) -> Chi2:
    """χ² between two histograms of independent unweighted event counts (Poisson bins).

    ``scale_a``, ``scale_b``: the weight of each event of a sample (e.g. 1/k for a flash file
    with k replicas per generated event), so yields are ``scale * counts``.

    Absolute yields (``normalised=False``): χ² = Σ (sa na − sb nb)² / (sa² na + sb² nb) over the
    bins with entries in either sample, ndf = their number; Poisson errors of both samples, and
    a bin empty in one sample still has the other's error.

    Shapes (``normalised=True``): each histogram divided by its total; the unweighted-unweighted
    test of Gagunashvili (ROOT's ``Chi2Test("UU")``): χ² = Σ (na/Na − nb/Nb)² Na Nb / (na + nb),
    with the variance estimated from the pooled sample (scales cancel), ndf = bins with entries − 1.
    Bins empty in both samples never count.
    """
    a = np.asarray(counts_a, dtype=np.float64)
    b = np.asarray(counts_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"histograms differ in shape: {a.shape} vs {b.shape}")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("counts must be non-negative")
    used = (a + b) > 0
    a, b = a[used], b[used]
    if normalised:
        total_a, total_b = a.sum(), b.sum()
        ndf = int(used.sum()) - 1
        if total_a == 0 or total_b == 0 or ndf <= 0:
            return Chi2(0.0, 0, math.nan)
        chi2 = float(np.sum((a / total_a - b / total_b) ** 2 * total_a * total_b / (a + b)))
    else:
        ndf = int(used.sum())
        if ndf == 0:
            return Chi2(0.0, 0, math.nan)
        variance = scale_a**2 * a + scale_b**2 * b
        chi2 = float(np.sum((scale_a * a - scale_b * b) ** 2 / variance))
    return Chi2(chi2, ndf, float(stats.chi2.sf(chi2, ndf)))


def histogram_counts(h: hist.Hist, flow: bool = True) -> np.ndarray:
    """Bin counts of a 1D histogram, with under- and overflow by default."""
    return np.asarray(h.values(flow=flow), dtype=np.float64)
