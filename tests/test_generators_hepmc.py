"""HepMC files in and out (:mod:`flashsim.generators.hepmc_write`,
:mod:`flashsim.generators.hepmc_read`): refsim's events written as HepMC3 and read back give
refsim's own gen level exactly; compressed, HepMC2 and HepMC3-library copies read the same;
the HepMC3 library (pyhepmc) reads what we write; units, vertices, damaged files.

The HepMC3 ASCII format: A. Buckley et al., Comput. Phys. Commun. 260 (2021) 107310,
arXiv:1912.08005, appendix.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim.exceptions import InputError, OutputError
from flashsim.generators import hepmc_read
from flashsim.generators.hepmc_read import HepMCSource
from flashsim.generators.hepmc_write import HepMCWriter
from flashsim.generators.record import GenRecord, concatenate, select_events
from flashsim.generators.write import gen_chunks, write_gen_file

#: The branches ``flashsim gen`` writes as refsim does (refsim numbers luminosity blocks by its
#: work block, ``flashsim gen`` writes 1).
GEN_PREFIXES = ("GenJet_", "GenPart_", "GenMET_")
GEN_EVENT = ("genWeight", "event", "nGenJet", "nGenPart", "Generator_binvar", "run")
RECORD_FIELDS = ("offsets", "pdg", "status", "mother", "px", "py", "pz", "e", "mass")
HEADER = "HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\n"
FOOTER = "HepMC::Asciiv3-END_EVENT_LISTING\n\n"


# -- helpers ----------------------------------------------------------------------------------


def read_all(path: Path, block_size: int = 1000, **options: Any) -> tuple[GenRecord, HepMCSource]:
    """Every event of ``path`` as one record, and the (closed) source."""
    source = HepMCSource(path, **options)
    try:
        return concatenate(list(source.records(block_size))), source
    finally:
        source.close()


def assert_same_events(a: GenRecord, b: GenRecord, *, binvar_rtol: float = 0.0) -> None:
    """Same particles, weights and event numbers, exactly; the scale to ``binvar_rtol``."""
    assert a.n_events == b.n_events
    for name in (*RECORD_FIELDS, "weight", "event_number"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.binvar, b.binvar, rtol=binvar_rtol)


def event_starts(data: bytes) -> list[int]:
    """Byte offsets of the ``E`` lines of a HepMC3 file."""
    return [m.start() + 1 for m in re.finditer(rb"\nE ", data)]


def first_events(path: Path, n: int) -> bytes:
    """The first ``n`` events of the HepMC3 file ``path``, as a complete file."""
    data = path.read_bytes()
    return data[: event_starts(data)[n]] + FOOTER.encode()


def read_tree(path: Path) -> dict[str, ak.Array]:
    with uproot.open(path) as file:
        return file["Events"].arrays(library="ak", how=dict)


def assert_same_branch(name: str, a: ak.Array, b: ak.Array) -> None:
    """Equal values (NaN equal to NaN), the same jagged structure and the same type."""
    assert str(a.type) == str(b.type), name
    if a.ndim > 1:
        np.testing.assert_array_equal(ak.num(a, axis=1), ak.num(b, axis=1), err_msg=name)
        a, b = ak.flatten(a), ak.flatten(b)
    x, y = ak.to_numpy(a), ak.to_numpy(b)
    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def particle(k: int, parent: int, pdg: int, p: tuple[float, ...], status: int) -> str:
    return f"P {k} {parent} {pdg} {' '.join(repr(float(x)) for x in p)} {status}"


def tiny_event(number: int, unit: str = "GEV", *, scale: float | None = 91.5) -> str:
    """A q qbar -> Z -> mu mu event (momenta in GeV, times 1000 for MEV) with one vertex."""
    f = 1000.0 if unit == "MEV" else 1.0
    rows = [
        (1, 0, 2212, (0.0, 0.0, 6800.0, 6800.0000647, 0.938272), 4),
        (2, 0, 2212, (0.0, 0.0, -6800.0, 6800.0000647, 0.938272), 4),
        (3, 1, 2, (0.0, 0.0, 60.25, 60.25, 0.0), 21),
        (4, 2, -2, (0.0, 0.0, -35.5, 35.5, 0.0), 21),
        (5, -1, 23, (1.5, -2.25, 24.75, 95.875, 91.1876), 22),
        (6, 5, 13, (30.125, 12.5, 20.0, 38.25, 0.1056584), 1),
        (7, 5, -13, (-28.625, -14.75, 4.75, 57.625, 0.1056584), 1),
    ]
    lines = [f"E {number} 1 {len(rows)}", f"U {unit} MM", "W 1.25 0.5"]
    if scale is not None:
        lines.append(f"A 0 event_scale {scale * f!r}")
    for k, parent, pdg, p, status in rows:
        if k == 5:
            lines.append("V -1 0 [3,4]")
        lines.append(particle(k, parent, pdg, tuple(x * f for x in p), status))
    return "\n".join(lines) + "\n"


def write_text(path: Path, *events: str, footer: bool = True) -> Path:
    path.write_text(HEADER + "".join(events) + (FOOTER if footer else ""))
    return path


@pytest.fixture(scope="module")
def hepmc_file(ttbar_hepmc: Path) -> Path:
    return ttbar_hepmc / "events.hepmc3"


@pytest.fixture(scope="module")
def reference(hepmc_file: Path) -> GenRecord:
    """All 200 events as the reader gives them (default chunk size)."""
    return read_all(hepmc_file)[0]


@pytest.fixture
def twenty(hepmc_file: Path, tmp_path: Path) -> Path:
    """The first 20 events of the ttbar file as their own file."""
    path = tmp_path / "twenty.hepmc3"
    path.write_bytes(first_events(hepmc_file, 20))
    return path


# -- the round trip: refsim's gen level from its HepMC3 output ---------------------------------


def test_round_trip_gives_refsim_gen_level(ttbar_hepmc: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.root"
    summary = write_gen_file(HepMCSource(ttbar_hepmc / "events.hepmc3"), out, progress=False)
    assert summary["n_events"] == 200
    assert summary["skipped_events"] == 0
    refsim, ours = read_tree(ttbar_hepmc / "refsim.root"), read_tree(out)
    compared = [n for n in refsim if n.startswith(GEN_PREFIXES) or n in GEN_EVENT]
    for name in (
        "GenJet_pt",
        "GenJet_hadronFlavour",
        "GenJet_partonFlavour",
        "GenPart_pdgId",
        "GenPart_statusFlags",
        "GenPart_genPartIdxMother",
        "GenMET_pt",
        "nGenPart",
        "genWeight",
        "event",
        "Generator_binvar",
    ):
        assert name in compared
    assert len(compared) >= 20
    for name in compared:
        assert_same_branch(name, refsim[name], ours[name])
    # Not a trivially equal sample: jets, leptons and b hadrons are there.
    assert ak.sum(refsim["nGenJet"]) > 800
    assert ak.sum(refsim["GenJet_hadronFlavour"] == 5) > 200
    assert ak.all(refsim["event"] == np.arange(1, 201))
    # The writer's header: the format version and the two tools.
    head = (ttbar_hepmc / "events.hepmc3").read_text()[:400].splitlines()
    assert head[:2] == HEADER.splitlines()
    assert head[2].startswith("T Pythia8\\|8.")
    assert head[3].startswith("T flashsim\\|")


def test_reader_block_size_and_small_chunks(
    hepmc_file: Path, twenty: Path, reference: GenRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reference.n_events == 200
    source = HepMCSource(hepmc_file)
    blocks = list(source.records(64))
    assert source.bytes_read() == source.size_bytes() == hepmc_file.stat().st_size
    source.close()
    assert [b.n_events for b in blocks] == [64, 64, 64, 8]
    assert_same_events(concatenate(blocks), reference)
    # Events of ~200 kB read 4 kB at a time: every event spans many chunk borders.
    monkeypatch.setattr(hepmc_read, "CHUNK_BYTES", 4096)
    small, _ = read_all(twenty, block_size=7)
    assert_same_events(small, select_events(reference, 0, 20))


@pytest.mark.parametrize("chunk", [5, 64, 333])
def test_event_lines_cut_at_chunk_borders(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1000 small events (~400 kB, beyond the 64 kB the header check reads first).
    events = [tiny_event(n, scale=None if n % 3 else 10.0 + n) for n in range(1000)]
    path = write_text(tmp_path / "many.hepmc3", *events)
    expected, _ = read_all(path)
    assert expected.n_events == 1000
    assert expected.event_number.tolist() == list(range(1000))
    monkeypatch.setattr(hepmc_read, "CHUNK_BYTES", chunk)
    got, _ = read_all(path, block_size=99)
    assert_same_events(got, expected)
    np.testing.assert_array_equal(got.binvar, expected.binvar)


def test_first_event_cut_by_the_header_check(tmp_path: Path) -> None:
    # A 64 kB tool line puts the first event's "E" line across the end of the header read.
    for shift in (-1, 0, 1):
        pad = 65535 - len(HEADER) - len("T \n") + shift
        path = tmp_path / f"long{shift}.hepmc3"
        path.write_text(HEADER + "T " + "x" * pad + "\n" + tiny_event(1) + tiny_event(2) + FOOTER)
        record, _ = read_all(path)
        assert record.event_number.tolist() == [1, 2], shift


def test_writer_round_trip_of_a_record(tmp_path: Path) -> None:
    one, _ = read_all(write_text(tmp_path / "one.hepmc3", tiny_event(4), tiny_event(5)))
    for name in ("events.hepmc3", "events.hepmc3.gz"):
        path = tmp_path / name
        with HepMCWriter(path, tools=[("gen", "1.0", "two lines\nof text")]) as writer:
            writer.write(select_events(one, 0, 1))
            writer.write(select_events(one, 1, 2))
        assert writer.n_events == 2
        again, source = read_all(path)
        assert source.compression == ("gzip" if name.endswith(".gz") else "none")
        assert source.tools == [{"name": "gen", "version": "1.0"}]
        assert_same_events(again, one)
        with pytest.raises(OutputError, match="--overwrite"):
            HepMCWriter(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.hepmc3",
        "events.hepmc3.gz",
        "one.hepmc3",
    ]


# -- other encodings of the same events --------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress", "kind"),
    [(".gz", gzip.compress, "gzip"), (".bz2", bz2.compress, "bzip2"), (".xz", lzma.compress, "xz")],
)
def test_compressed_copies(
    twenty: Path, reference: GenRecord, suffix: str, compress: Any, kind: str
) -> None:
    packed = twenty.with_name(twenty.name + suffix)
    packed.write_bytes(compress(twenty.read_bytes()))
    record, source = read_all(packed, block_size=6)
    assert source.compression == kind
    assert source.format == "hepmc3"
    assert source.provenance()["compression"] == kind
    assert_same_events(record, select_events(reference, 0, 20))


def test_damaged_compressed_file(twenty: Path) -> None:
    packed = twenty.with_name("cut.hepmc3.gz")
    data = gzip.compress(twenty.read_bytes())
    packed.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cannot be decompressed \(gzip\)"):
        read_all(packed)


def copy_with_pyhepmc(source: Path, target: Path, fmt: str) -> int:
    """Write the events of ``source`` to ``target`` with the HepMC3 library; their number."""
    import pyhepmc

    n = 0
    with pyhepmc.open(source) as reader, pyhepmc.open(target, "w", format=fmt) as writer:
        for event in reader:
            writer.write(event)
            n += 1
    return n


def genlevel(path: Path) -> dict[str, Any]:
    source = HepMCSource(path)
    chunks = list(gen_chunks(source, 1000))
    source.close()
    assert len(chunks) == 1
    return chunks[0]


def sorted_genparts(genpart: ak.Array) -> list[list[tuple[Any, ...]]]:
    """Per event, the GenPart entries as sorted tuples (their mother by its pdgId, since the
    indices depend on the order)."""
    out = []
    for event in ak.to_list(genpart):
        rows = [
            (
                p["pdgId"],
                p["status"],
                p["statusFlags"],
                p["pt"],
                p["eta"],
                p["phi"],
                p["mass"],
                event[p["genPartIdxMother"]]["pdgId"] if p["genPartIdxMother"] >= 0 else 0,
            )
            for p in event
        ]
        out.append(sorted(rows))
    return out


def test_hepmc3_library_copies(twenty: Path, reference: GenRecord, tmp_path: Path) -> None:
    pytest.importorskip("pyhepmc")
    subset = select_events(reference, 0, 12)
    small = tmp_path / "twelve.hepmc3"
    small.write_bytes(first_events(twenty, 12))
    # HepMC3, as the HepMC3 library writes it: the same events (its attribute keeps 15 digits).
    library = tmp_path / "library.hepmc3"
    assert copy_with_pyhepmc(small, library, "HepMC3") == 12
    record, source = read_all(library)
    assert source.format == "hepmc3"
    assert_same_events(record, subset, binvar_rtol=1e-13)
    # HepMC2: read through pyhepmc, particles in another order but the same gen level.
    old = tmp_path / "events.hepmc2"
    assert copy_with_pyhepmc(small, old, "HepMC2") == 12
    record, source = read_all(old, block_size=5)
    assert source.format == "hepmc2"
    assert record.n_events == 12
    assert record.counts.tolist() == subset.counts.tolist()
    assert record.event_number.tolist() == subset.event_number.tolist()
    assert not np.array_equal(record.pdg, subset.pdg)  # another order indeed
    local = np.arange(len(record.mother)) - record.offsets[:-1][record.event_index]
    assert np.all(record.mother < local)
    ours, theirs = genlevel(small), genlevel(old)
    for field in ours["GenJet"].fields:
        assert_same_branch(field, ours["GenJet"][field], theirs["GenJet"][field])
    assert sorted_genparts(ours["GenPart"]) == sorted_genparts(theirs["GenPart"])
    np.testing.assert_array_equal(ours["GenMET_pt"], theirs["GenMET_pt"])
    np.testing.assert_array_equal(ours["genWeight"], theirs["genWeight"])
    # HepMC2 keeps the event scale to 7 digits.
    np.testing.assert_allclose(theirs["Generator_binvar"], ours["Generator_binvar"], rtol=1e-6)


def test_pyhepmc_reads_our_file(hepmc_file: Path, reference: GenRecord) -> None:
    pyhepmc = pytest.importorskip("pyhepmc")
    checked = {0: None, 1: None, 137: None, 199: None}
    n = 0
    with pyhepmc.open(hepmc_file) as reader:
        for k, event in enumerate(reader):
            n += 1
            if k in checked:
                checked[k] = event
    assert n == reference.n_events == 200
    for k, event in checked.items():
        assert event is not None
        a, b = reference.offsets[k], reference.offsets[k + 1]
        particles = event.particles
        assert len(particles) == b - a
        assert event.event_number == reference.event_number[k]
        assert [p.pid for p in particles] == reference.pdg[a:b].tolist()
        assert [p.status for p in particles] == reference.status[a:b].tolist()
        mothers = []
        for p in particles:
            vertex = p.production_vertex
            ids = [q.id for q in vertex.particles_in] if vertex is not None else []
            mothers.append(min(ids) - 1 if ids else -1)
        assert mothers == reference.mother[a:b].tolist()
        np.testing.assert_array_equal([p.momentum.pz for p in particles], reference.pz[a:b])
        assert float(str(event.attributes["event_scale"])) == reference.binvar[k]


# -- units, vertices, event scale --------------------------------------------------------------


def test_mev_reads_as_gev(tmp_path: Path) -> None:
    gev, _ = read_all(write_text(tmp_path / "gev.hepmc3", tiny_event(1), tiny_event(2)))
    mev, _ = read_all(write_text(tmp_path / "mev.hepmc3", tiny_event(1, "MEV"), tiny_event(2)))
    assert gev.counts.tolist() == mev.counts.tolist() == [7, 7]
    for name in ("px", "py", "pz", "e", "mass", "binvar"):
        np.testing.assert_allclose(getattr(mev, name), getattr(gev, name), rtol=1e-14)
    np.testing.assert_array_equal(mev.pdg, gev.pdg)
    np.testing.assert_array_equal(mev.mother, gev.mother)
    assert gev.px[5] == 30.125
    assert mev.binvar.tolist() == pytest.approx([91.5, 91.5], rel=1e-14)
    assert mev.weight.tolist() == [1.25, 1.25]  # the first weight is the nominal one


def test_unknown_units(tmp_path: Path) -> None:
    path = write_text(tmp_path / "tev.hepmc3", tiny_event(1), tiny_event(42, "TEV"))
    with pytest.raises(InputError) as err:
        read_all(path)
    assert "event 42" in str(err.value)
    assert "'U TEV MM'" in str(err.value)
    # Not a damaged event: skipping does not leave it out.
    with pytest.raises(InputError, match="unknown units"):
        read_all(path, skip_bad_events=True)


def test_daughter_before_mother(tmp_path: Path) -> None:
    # The muon refers to the Z's end vertex (-2) before the Z and the vertex are listed.
    event = (
        "\n".join(
            [
                "E 7 2 6",
                "U GEV MM",
                "W 2.5",
                particle(1, 0, 2212, (0, 0, 6500, 6500.0000677, 0.938272), 4),
                particle(2, 0, 2212, (0, 0, -6500, 6500.0000677, 0.938272), 4),
                "V -1 0 [1,2]",
                particle(3, -2, 13, (10, 20, 30, 37.5, 0.105658), 1),
                particle(4, -1, 23, (0, 0, 50, 104, 91.1876), 22),
                "V -2 0 [4]",
                particle(5, -2, -13, (-10, -20, 20, 30, 0.105658), 1),
                particle(6, -1, 21, (5, 5, 5, 8.66, 0), 1),
            ]
        )
        + "\n"
    )
    path = write_text(tmp_path / "order.hepmc3", event, tiny_event(8))
    record, _ = read_all(path)
    assert record.counts.tolist() == [6, 7]
    assert record.pdg[:6].tolist() == [2212, 2212, 23, 13, -13, 21]
    assert record.mother[:6].tolist() == [-1, -1, 0, 2, 2, 0]
    assert record.pz[:6].tolist() == [6500, -6500, 50, 30, 20, 5]
    assert record.weight.tolist() == [2.5, 1.25]
    local = np.arange(len(record.pdg)) - record.offsets[:-1][record.event_index]
    assert np.all(record.mother < local)
    # The second event, already in order, is as written: the Z's mother is the first quark.
    assert record.mother[6:].tolist() == [-1, -1, 0, 1, 2, 4, 4]
    # Valid HepMC3: the HepMC3 library reads the same tree.
    pyhepmc = pytest.importorskip("pyhepmc")
    with pyhepmc.open(path) as reader:
        first = reader.read()
    incoming = {p.id: [q.id for q in p.production_vertex.particles_in] for p in first.particles}
    assert incoming == {1: [], 2: [], 3: [4], 4: [1, 2], 5: [4], 6: [1, 2]}


def test_event_scale_is_generator_binvar(tmp_path: Path) -> None:
    path = write_text(tmp_path / "scale.hepmc3", tiny_event(1), tiny_event(2, scale=None))
    chunk = genlevel(path)
    binvar = chunk["Generator_binvar"]
    assert binvar.dtype == np.float32
    assert binvar[0] == np.float32(91.5)
    assert np.isnan(binvar[1])
    assert chunk["event"].tolist() == [1, 2]
    assert chunk["genWeight"].tolist() == [1.25, 1.25]
    # The two muons of each event are GenParts, prompt.
    gp = chunk["GenPart"]
    assert ak.to_list(ak.sort(gp.pdgId[gp.status == 1])) == [[-13, 13], [-13, 13]]
    assert ak.all((gp.statusFlags[gp.status == 1] & 1) == 1)


# -- damaged input ---------------------------------------------------------------------------


def refused(path: Path, *fragments: str, **options: Any) -> str:
    """Reading ``path`` raises one InputError, one line holding every fragment."""
    with pytest.raises(InputError) as err:
        read_all(path, **options)
    assert type(err.value) is InputError
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_not_hepmc(tmp_path: Path, ttbar_hepmc: Path) -> None:
    text = tmp_path / "random.hepmc3"
    text.write_bytes(np.random.default_rng(3).integers(32, 127, 5000, dtype=np.uint8).tobytes())
    refused(text, "is not a HepMC ASCII file", "HepMC::Version")
    lhe = tmp_path / "events.lhe"
    lhe.write_text('<LesHouchesEvents version="3.0">\n<header>\n</header>\n')
    refused(lhe, "LHE file", "--lhe")
    refused(ttbar_hepmc / "refsim.root", "ROOT file", "flashsim run")
    empty = tmp_path / "empty.hepmc3"
    empty.write_bytes(b"")
    refused(empty, "is empty")
    refused(tmp_path, "is a directory")
    refused(tmp_path / "missing.hepmc3", "does not exist")
    listing = tmp_path / "asciiv2.hepmc3"
    listing.write_text("HepMC::Version 3.02.05\nHepMC::Ascii-START_EVENT_LISTING\n")
    refused(listing, "unsupported HepMC listing")


def test_header_without_events(tmp_path: Path) -> None:
    refused(write_text(tmp_path / "none.hepmc3"), "holds no events")
    header = tmp_path / "header.hepmc3"
    header.write_text("HepMC::Version 3.02.05")
    refused(header, "header but no events")
    # Only a tool line and no listing end: no events either, whatever the chunk size.
    tools = tmp_path / "tools.hepmc3"
    tools.write_text(HEADER + "T tool\\|1.0\\|nothing")
    refused(tools, "holds no events")


def test_truncated_in_the_third_event(twenty: Path, reference: GenRecord) -> None:
    data = twenty.read_bytes()
    starts = event_starts(data)
    truncated = twenty.with_name("truncated.hepmc3")
    # Wherever the cut falls (in a number, after a line's first letter, between lines), the
    # third event reads as truncated.
    for cut in range((starts[2] + starts[3]) // 2, (starts[2] + starts[3]) // 2 + 40, 3):
        truncated.write_bytes(data[:cut])
        message = refused(truncated, "the file is truncated: event 3 (the 3rd)", "--skip-bad")
        assert "particles" in message
        record, source = read_all(truncated, skip_bad_events=True)
        assert source.skipped_events == 1
        assert_same_events(record, select_events(reference, 0, 2))
    for kind in ("P", "V"):  # a cut just after the line's letter
        at = data.index(f"\n{kind} ".encode(), (starts[2] + starts[3]) // 2) + 2
        truncated.write_bytes(data[:at])
        refused(truncated, "truncated: event 3")


def damage(text: str, event: int, old: str, new: str) -> str:
    """``text`` with the first ``old`` of its ``event``-th event (0-based) replaced."""
    parts = re.split(r"(?m)^(?=E )", text)
    parts[event + 1] = parts[event + 1].replace(old, new, 1)
    return "".join(parts)


def test_damaged_events(tmp_path: Path) -> None:
    good = [tiny_event(n) for n in range(1, 7)]
    text = HEADER + "".join(good) + FOOTER
    clean, _ = read_all(write_text(tmp_path / "good.hepmc3", *good))
    letters = tmp_path / "letters.hepmc3"
    letters.write_text(damage(text, 1, " 30.125 ", " 30.1x5 "))
    refused(
        letters, "event 2 (the 2nd) is damaged: a particle line cannot be read", "--skip-bad-events"
    )
    no_final = tmp_path / "no_final.hepmc3"
    no_final.write_text(text)
    for _ in range(2):  # both muons
        no_final.write_text(damage(no_final.read_text(), 3, "0.1056584 1\n", "0.1056584 2\n"))
    refused(no_final, "event 4 (the 4th) has no final-state particle")
    missing = tmp_path / "missing_line.hepmc3"
    missing.write_text(damage(text, 4, "P 7 5 -13", "X 7 5 -13"))
    refused(missing, "event 5 (the 5th) is damaged", "6 particle lines for 7 declared")
    empty_line = tmp_path / "empty_line.hepmc3"
    empty_line.write_text(damage(text, 0, "P 2 0", "P\nP 2 0").replace("E 1 1 7", "E 1 1 8"))
    refused(empty_line, "cannot be read")
    # All of the damage at once, skipped: the good events are all there and as they were.
    every = damage(damage(text, 1, " 30.125 ", " 30.1x5 "), 4, "P 7 5 -13", "X 7 5 -13")
    for _ in range(2):
        every = damage(every, 3, "0.1056584 1\n", "0.1056584 2\n")
    every = every.replace(FOOTER, "")[:-30]  # and truncated in the last event
    skipping = tmp_path / "every.hepmc3"
    skipping.write_text(every)
    record, source = read_all(skipping, skip_bad_events=True)
    assert source.skipped_events == 4
    assert record.event_number.tolist() == [1, 3]
    kept = concatenate([select_events(clean, 0, 1), select_events(clean, 2, 3)])
    assert_same_events(record, kept)


@pytest.mark.parametrize(
    ("old", "new", "damaged"),
    [
        ("E 1 1 7", "E 1 -5 7", False),  # vertices: read without them
        ("E 1 1 7", "E 1 99999999999 7", False),  # no memory for the vertices it declares
        ("V -1 0 [3,4]", "V -99999999999 0 [3,99999999999]", False),
        ("P 5 -1 23", "P 5 1e300 23", True),  # numbers out of range of their integer
        ("P 5 -1 23", "P 5 -99999999999 23", True),
        ("P 5 -1 23", "P 5 -1 -1e12", True),
        ("0.1056584 1\n", "0.1056584 1e300\n", True),
        ("P 5 -1 23 1.5 -2.25 ", "P 5 -1 23 1.5 ", True),  # fields missing
    ],
)
def test_hostile_numbers(tmp_path: Path, old: str, new: str, damaged: bool) -> None:
    path = write_text(
        tmp_path / "hostile.hepmc3", damage(tiny_event(1) + tiny_event(2), 0, old, new)
    )
    if damaged:
        refused(path, "event 1 (the 1st) is damaged")
    record, source = read_all(path, skip_bad_events=True)
    assert source.skipped_events == int(damaged)
    assert record.event_number.tolist() == ([2] if damaged else [1, 2])
    assert np.all(record.mother < 7)


def test_too_many_fields(tmp_path: Path) -> None:
    # A line that pandas cannot split into the nine columns: the chunk is refused, named.
    extra = damage(tiny_event(1) + tiny_event(2), 1, "P 5 -1 23", "P 5 -1 23 7")
    path = write_text(tmp_path / "extra.hepmc3", extra)
    refused(path, "a particle line of events 1-2 cannot be read", "Expected 9 fields")
    refused(path, "cannot be read", skip_bad_events=True)
