"""The reference simulation ("refsim"): Pythia 8 events through stochastic detector models.

It makes the samples flashsim learns from and is validated against: :mod:`.cms` (a CMS-like
detector, NanoAOD output) and :mod:`.lhcb` (an LHCb-like detector with PID calibration samples).
Shared by both: event generation (:mod:`.generator`, :mod:`.processes`), work blocks and
writing (:mod:`.blocks`) and the pile-up overlay (:mod:`.pileup`). The generator level and the
kinematics helpers are :mod:`flashsim.generators` (:mod:`flashsim.generators.genlevel`,
:mod:`flashsim.generators.kinematics`), shared with ``flashsim gen``. The entry point of
``flashsim refsim generate`` is :func:`flashsim.refsim.generate.generate_sample`.

Nothing is imported here, so that ``flashsim`` starts fast; import the submodules.
"""
