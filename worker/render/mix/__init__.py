"""The audio mix of a composition: every play of every clip into one float32 48 kHz stereo
track, loudness-matched, panned, faded, reverberated, stretched, limited and normalised."""
