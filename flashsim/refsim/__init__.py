"""The reference simulation ("refsim"): Pythia 8 events through stochastic detector models.

It makes the samples flashsim learns from and is validated against: :mod:`.cms` (a CMS-like
detector, NanoAOD output) and :mod:`.lhcb` (an LHCb-like detector with PID calibration samples).
Shared by both: event generation (:mod:`.generator`, :mod:`.processes`), generator-level
collections (:mod:`.genlevel`), work blocks and writing (:mod:`.blocks`), the pile-up overlay
(:mod:`.pileup`) and kinematics helpers (:mod:`.kinematics`). The entry point of
``flashsim refsim generate`` is :func:`flashsim.refsim.generate.generate_sample`.

Nothing is imported here, so that ``flashsim`` starts fast; import the submodules.
"""
