"""Generated events into the generator level: one code for every source of events.

- :mod:`~flashsim.generators.record`: :class:`~flashsim.generators.record.GenRecord`, the
  particles of a block of events in HepMC conventions, and
  :func:`~flashsim.generators.record.to_record` from Pythia's in-memory record.
- :mod:`~flashsim.generators.genlevel`: ``GenJet``, ``GenPart``, ``GenMET`` of a record
  (:func:`~flashsim.generators.genlevel.build_genlevel`), and
  :mod:`~flashsim.generators.branches`: the NanoAOD branches of it.
- Sources (:class:`~flashsim.generators.source.EventSource`): HepMC3 and HepMC2 ASCII files
  (:mod:`~flashsim.generators.hepmc_read`, :mod:`~flashsim.generators.hepmc2`), Pythia cards
  (:mod:`~flashsim.generators.cards`), LHE files showered by Pythia
  (:mod:`~flashsim.generators.lhe`); :func:`~flashsim.generators.open.open_source` picks one.
- :mod:`~flashsim.generators.write`: ``flashsim gen`` (a gen-level file), and
  :mod:`~flashsim.generators.hepmc_write`: HepMC3 output of ``flashsim refsim generate --hepmc``.

``flashsim refsim generate`` builds its gen level here too, so a model trained on refsim sees
the same conditions from a HepMC file of the same events. Nothing is imported here, so that
``flashsim`` starts fast; import the submodules.
"""
