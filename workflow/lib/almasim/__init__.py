"""almasim: simulate one ALMA execution block (EB) as a real ASDM, with the truth beside it.

The demo data of the workflow. :func:`simulate_eb` runs the phases, one module each: ``setup``
(parameters -> array, scans, spws), ``ms`` (empty MS from casatools.simulator, repaired to look
like an imported ALMA MS), ``corruptions`` (gains, bandpasses, position errors, wet-path screen),
``atmosphere`` (ATM: opacity, Tsys, WVR), ``data`` (DATA, SYSCAL), ``asdm`` (exportasdm and the
XML/BDF repairs), ``verify`` (re-import and comparison) and ``truth`` (truth and antenna-position
JSON).
"""

from almasim.eb import simulate_eb

__all__ = ["simulate_eb"]
