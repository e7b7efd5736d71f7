"""Migration scripts, oldest first: `NNNN_description.py`, written by hand."""
