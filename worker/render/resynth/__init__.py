"""The `resynth` render kind: concatenative synthesis of a target sound from film frames."""
