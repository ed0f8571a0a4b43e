"""Physics sanity numbers of a reference sample (used by the tests and the benchmark script)."""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim.generators.genlevel import FLAG_IS_LAST_COPY, FLAG_IS_PROMPT


def half_width(x: np.ndarray) -> float:
    """Half the 16-84% quantile range: a Gaussian sigma robust to tails."""
    lo, hi = np.percentile(x, [16, 84])
    return float(hi - lo) / 2


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean ``label`` (Mann-Whitney)."""
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    n1 = int(label.sum())
    n0 = len(label) - n1
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def matched_jets(events: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Flat arrays of reco jets with a gen match and their gen jets."""
    jets = events.Jet[events.Jet.genJetIdx >= 0]
    return ak.flatten(jets), ak.flatten(events.GenJet[jets.genJetIdx])


def jet_response(
    events: ak.Array,
    bins: tuple[tuple[float, float], ...] = ((30, 60), (60, 120), (120, 1000)),
) -> dict[str, object]:
    """Median pT response for gen pT > 50 GeV and relative resolution in gen-pT bins."""
    jets, gen = matched_jets(events)
    ratio = ak.to_numpy(jets.pt / gen.pt)
    gpt = ak.to_numpy(gen.pt)
    res = []
    for lo, hi in bins:
        sel = ratio[(gpt > lo) & (gpt < hi)]
        res.append((lo, hi, len(sel), half_width(sel) / np.median(sel) if len(sel) else np.nan))
    return {"median_above_50": float(np.median(ratio[gpt > 50])), "resolution": res}


def muon_resolution(events: ak.Array, lo: float = 20, hi: float = 100) -> tuple[int, float]:
    """Number of gen-matched muons with ``lo < gen pT < hi`` and their relative pT resolution."""
    mu = events.Muon[events.Muon.genPartIdx >= 0]
    gen = events.GenPart[mu.genPartIdx]
    gpt = ak.to_numpy(ak.flatten(gen.pt))
    ratio = ak.to_numpy(ak.flatten(mu.pt)) / gpt
    sel = ratio[(gpt > lo) & (gpt < hi)]
    return len(sel), half_width(sel)


def btag_auc(events: ak.Array) -> tuple[int, int, float]:
    """Number of b and light matched jets and the b-tag ROC AUC (hadronFlavour 5 vs 0)."""
    jets, gen = matched_jets(events)
    flav = ak.to_numpy(gen.hadronFlavour)
    score = ak.to_numpy(jets.btagDeepFlavB)
    sel = (flav == 5) | (flav == 0)
    return int((flav == 5).sum()), int((flav == 0).sum()), roc_auc(score[sel], flav[sel] == 5)


def lepton_isolation(events: ak.Array, pt_min: float = 10.0) -> dict[bool, np.ndarray]:
    """``pfRelIso04_all`` of gen-matched leptons, split by the gen isPrompt flag."""
    out: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for coll in ("Muon", "Electron"):
        lep = events[coll][events[coll].genPartIdx >= 0]
        lep = lep[lep.pt > pt_min]
        prompt = ((events.GenPart[lep.genPartIdx].statusFlags >> FLAG_IS_PROMPT) & 1) == 1
        for flag in (True, False):
            out[flag].append(ak.to_numpy(ak.flatten(lep.pfRelIso04_all[prompt == flag])))
    return {k: np.concatenate(v) for k, v in out.items()}


def fatjets_near(
    events: ak.Array, pdg: int, pt_min: float, max_dr: float = 0.6
) -> tuple[ak.Array, ak.Array]:
    """FatJets within ``max_dr`` of a last-copy generated particle ``|pdgId| == pdg`` with
    pT > ``pt_min`` (one jet per particle at most: the nearest), flat; and the particles."""
    gen = events.GenPart
    last = ((gen.statusFlags >> FLAG_IS_LAST_COPY) & 1) == 1
    gen = gen[(np.abs(gen.pdgId) == pdg) & last & (gen.pt > pt_min)]
    pairs = ak.cartesian({"g": gen, "j": events.FatJet}, nested=True)
    deta = pairs.g.eta - pairs.j.eta
    dphi = (pairs.g.phi - pairs.j.phi + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(deta, dphi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    close = ak.fill_none(ak.flatten(dr[best], axis=2) < max_dr, False)
    jets = ak.flatten(pairs.j[best], axis=2)
    return ak.drop_none(ak.flatten(jets[close])), ak.flatten(gen[close])


def mass_peak(mass: np.ndarray, lo: float = 40.0, hi: float = 300.0, width: float = 10.0) -> float:
    """The peak of ``mass`` between ``lo`` and ``hi``: the centre of the most populated
    ``width`` bin (of a 3-bin running mean), then the median of the entries within 1.5 bins of
    the current peak, a few times (a mean shift that settles on the peak)."""
    counts, edges = np.histogram(mass, bins=np.arange(lo, hi + width, width))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    k = int(np.argmax(smooth))
    peak = 0.5 * (edges[k] + edges[k + 1])
    for _ in range(5):
        near = mass[np.abs(mass - peak) < 1.5 * width]
        if len(near) == 0:
            break
        peak = float(np.median(near))
    return float(peak)
