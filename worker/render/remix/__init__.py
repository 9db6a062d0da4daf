"""The `remix` render kind: a silence-split random remix of a film or several."""
