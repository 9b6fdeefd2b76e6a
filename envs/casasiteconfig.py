# CASA site configuration for offline use: measures data from the pinned PyPI package `casadata`.
# Point CASASITECONFIG at this file (absolute path); the workflow and tests do it for you.
import importlib.util as _util
import os as _os

measurespath = _os.path.join(
    list(_util.find_spec("casadata").submodule_search_locations)[0], "__data__"
)
measures_auto_update = False
data_auto_update = False
# Every workflow job sets its own log with casalog.setlogfile(); no stray casa-*.log in the working dir.
logfile = _os.devnull
