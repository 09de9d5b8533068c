"""What a run needs around the algorithms: torchrun ranks, locked output folders and atomic files, run info."""
