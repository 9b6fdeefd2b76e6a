"""Imaging of an MOUS from its EBs' calibrated data: parameters, line-free channels, images,
the sensitivity check and the QA2 verdict (docs/design.md, "Imaging")."""
