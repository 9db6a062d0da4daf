"""The composition engine: scenes of keyframed clips evaluated with numpy, a compiled
compositor drawing from a memory-mapped clip-frame store, and an H.264 segment encoder."""
