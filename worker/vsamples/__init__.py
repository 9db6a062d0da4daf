"""vsamples: for each audio sample, the span of picture a grid cell shows (pure code).

`scan` makes one sequential, threaded, downscaled pass over a source file; `cuts` finds hard
cuts, fades through black and dissolves in what it saw; `spans` turns each sample into a
picture span of about 1.2 s inside one shot, reproducibly.
"""
