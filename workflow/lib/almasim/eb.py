"""Simulate one built-in ALMA execution block (EB) as a real ASDM, with the truth beside it.

Pipeline of :func:`simulate_eb` (all parameters come from ``resources/demo_mous.yaml``):

1. ``setup``: antennas, pads, spectral windows, fields and the scan timeline of the EB.
2. ``ms``: ``casatools.simulator`` writes an empty MS, which is repaired so that it looks like an
   imported ALMA MS.
3. ``corruptions`` (with ``atmosphere``): gains, bandpasses, Tsys from ATM, the wet-path screen,
   the antenna-position errors and the WVR brightness, all drawn from the EB's seed; ``data``
   writes DATA and the SYSCAL subtable from them.
4. ``asdm``: ``exportasdm`` writes the ASDM, whose XML tables and BDFs are then repaired.
5. ``verify``: ``importasdm`` re-imports the ASDM and everything is compared with the MS that was
   written. Any mismatch raises ``RuntimeError``.
6. ``truth``: the truth JSON and the antenna-position JSON.

Outputs (moved into place only after the verification passed): the ASDM directory, the truth
JSON and an antenna-position JSON in the format of ALMA's position service (``getantposalma``)
with the TRUE positions (the ASDM carries the online ones, as ALMA's do), which
``gencal(caltype='antpos', infile=...)`` accepts.
"""

import os
import shutil
import tempfile
import time as _time

from almasim.asdm import export_asdm
from almasim.corruptions import draw_corruptions
from almasim.data import offset_source_model, solar_system_model, write_data, write_syscal
from almasim.faults import apply_faults
from almasim.ms import drop_wvr_cross_rows, repair_ms, simulate_empty_ms
from almasim.setup import build_setup
from almasim.truth import write_antpos, write_truth
from almasim.verify import verify_asdm


def simulate_eb(
    *, params: dict, eb: str, asdm: str, truth: str, antpos_json: str, log: str
) -> None:
    """Simulate execution block ``eb`` of the demo MOUS described by ``params``.

    Parameters
    ----------
    params : dict
        The demo MOUS parameters (content of ``resources/demo_mous.yaml``).
    eb : str
        Name of the EB; must be one of ``params['execution_blocks'][*]['name']``.
    asdm : str
        Output ASDM directory.
    truth : str
        Output truth JSON file.
    antpos_json : str
        Output antenna-position JSON file (``getantposalma`` format, true positions).
    log : str
        CASA log file.

    Raises
    ------
    RuntimeError
        If the ASDM, once re-imported with ``importasdm``, does not match the simulated MS.
    """
    from casatasks import casalog

    asdm, truth, antpos_json, log = (os.path.abspath(p) for p in (asdm, truth, antpos_json, log))
    for path in (asdm, truth, antpos_json, log):
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    casalog.setlogfile(os.path.abspath(log))
    casalog.origin("simulate_eb")
    t_start = _time.time()

    setup = build_setup(params, eb)
    outdir = os.path.dirname(os.path.abspath(asdm))
    work = tempfile.mkdtemp(prefix=f".simulate_{eb}_", dir=outdir)
    cwd = os.getcwd()
    try:
        os.chdir(work)  # CASA tasks drop stray files in the working directory
        ms = os.path.join(work, f"{eb}.sim.ms")
        simulate_empty_ms(setup, ms)
        repair_ms(setup, ms)
        model = draw_corruptions(setup)
        model["faults"] = apply_faults(setup, model)
        model["sso_vis"], model["sso_flux"] = solar_system_model(setup, ms)
        model["offset_vis"] = offset_source_model(setup, ms)
        write_data(setup, model, ms)
        write_syscal(setup, model, ms)
        casalog.post(f"simulated MS {ms} ready after {_elapsed(t_start)}", "INFO")

        asdm_tmp = os.path.join(work, eb)
        export_asdm(setup, ms, asdm_tmp, work)
        drop_wvr_cross_rows(setup, ms)
        casalog.post(f"ASDM exported and repaired after {_elapsed(t_start)}", "INFO")

        verify_asdm(setup, model, ms, asdm_tmp, work)
        casalog.post(f"ASDM verified after {_elapsed(t_start)}", "INFO")

        truth_tmp = os.path.join(work, "truth.json")
        antpos_tmp = os.path.join(work, "antpos.json")
        write_truth(setup, model, truth_tmp)
        write_antpos(setup, antpos_tmp, os.path.basename(antpos_json))

        # move the verified results into place (replacing previous outputs)
        for src, dst in ((asdm_tmp, asdm), (truth_tmp, truth), (antpos_tmp, antpos_json)):
            dst = os.path.abspath(dst)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            elif os.path.lexists(dst):
                os.remove(dst)
            shutil.move(src, dst)
        casalog.post(f"simulate_eb {eb} done in {_elapsed(t_start)}", "INFO")
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def _elapsed(t0: float) -> str:
    return f"{_time.time() - t0:.1f} s"
