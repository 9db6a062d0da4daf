"""The grid kinds' shared parameters (worker/render/gridkind/params.py): each kind accepts
exactly the shared keys it had, with their defaults and bounds, and its brightness and volume
errors still name the ends its own way."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from scheduler.jobspec import validate_spec
from worker.render.gridkind import grid_kind, grid_kind_names
from worker.render.gridkind.params import check_pair

DEFAULTS = {"margin": 0.0667, "brightness": (0.33, 1.0), "reverb": 80.0,
            "pad_before_ms": 1000.0, "pad_after_ms": 3000.0, "min_clip_ms": 1200.0,
            "extra_clip_ms": 500.0, "max_db": -16.0}
DRAWN = {"margin", "brightness"}
SOUNDING = DRAWN | {"reverb", "pad_before_ms", "pad_after_ms"}
TIMED = SOUNDING | {"min_clip_ms", "extra_clip_ms"}
CAPPED = TIMED | {"max_db"}
SHARED = {"poster": DRAWN, "stretch": SOUNDING, "splice": SOUNDING, "flow": SOUNDING,
          "shuffle": TIMED, "falling": CAPPED, "orbits": CAPPED, "waves": CAPPED,
          "proliferation": CAPPED}
OWN_DEFAULTS = {("flow", "pad_after_ms"): 6000.0}
# (key, a value just outside its bound, pydantic's words for the bound)
OUTSIDE = [("margin", 1.0, "less than 1"), ("margin", -0.01, "greater than or equal to 0"),
           ("reverb", 100.5, "less than or equal to 100"),
           ("pad_before_ms", -1.0, "greater than or equal to 0"),
           ("pad_after_ms", -1.0, "greater than or equal to 0"),
           ("min_clip_ms", -1.0, "greater than or equal to 0"),
           ("extra_clip_ms", -1.0, "greater than or equal to 0"),
           ("max_db", 0.5, "less than or equal to 0")]
# each kind's words for the ends of brightness and volume (None: checked its own way)
ENDS = {"falling": (("resting", "flash"), ("low", "high")),
        "orbits": (("resting", "flash"), ("low", "high")),
        "waves": (("resting", "flash"), ("low", "high")),
        "stretch": (("rest", "flash"), ("low", "high")),
        "splice": (("rest", "flash"), ("low", "high")),
        "proliferation": (("settled", "flash"), ("outer", "centre")),
        "shuffle": (("resting", "flash"), None),
        "flow": (("rest", "brightest"), ("low", "high")),
        "poster": (("centre", "edge"), None)}


def shared_keys(kind: str) -> set[str]:
    return set(grid_kind(kind).params.model_fields) & set(DEFAULTS)


def test_every_grid_kind_is_covered() -> None:
    assert set(grid_kind_names()) == set(SHARED) == set(ENDS)


@pytest.mark.parametrize("kind", sorted(SHARED))
def test_a_kind_has_its_shared_keys_with_their_defaults(kind: str) -> None:
    assert shared_keys(kind) == SHARED[kind]
    params = grid_kind(kind).params()
    for key in SHARED[kind]:
        assert getattr(params, key) == OWN_DEFAULTS.get((kind, key), DEFAULTS[key]), key


@pytest.mark.parametrize("kind", sorted(SHARED))
def test_a_shared_key_keeps_its_bounds(kind: str) -> None:
    model = grid_kind(kind).params
    checked = 0
    for key, value, words in OUTSIDE:
        if key in SHARED[kind]:
            with pytest.raises(ConfigError, match=f"{model.__name__}: {key}: Input should be "
                                                  f"{words}"):
                model(**{key: value})
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("kind", sorted(ENDS))
def test_brightness_and_volume_errors_name_the_kinds_ends(kind: str) -> None:
    model = grid_kind(kind).params
    (rest, flash), volume = ENDS[kind]
    with pytest.raises(ConfigError) as err:
        model(brightness=(0.9, 0.5))
    assert str(err.value) == f"brightness must be ({rest}, {flash}) with 0 ≤ {rest} ≤ {flash}"
    model(brightness=(0.0, 0.0))  # equal ends are allowed
    if volume is not None:
        low, high = volume
        for bad in ((0.6, 0.5), (0.5, 4.5), (-0.1, 0.5)):
            with pytest.raises(ConfigError) as err:
                model(volume=bad)
            assert str(err.value) == (f"volume must be ({low}, {high}) with 0 ≤ {low} ≤ "
                                      f"{high} ≤ 4")
        model(volume=(4.0, 4.0))


def test_check_pair_takes_nan_as_out_of_order() -> None:
    with pytest.raises(ConfigError, match=r"level must be \(a, b\) with 0 ≤ a ≤ b$"):
        check_pair("level", (0.0, float("nan")), "a", "b")
    with pytest.raises(ConfigError, match=r"≤ 2\.5$"):
        check_pair("level", (0.0, 3.0), "a", "b", top=2.5)
    check_pair("level", (0.0, 2.5), "a", "b", top=2.5)


def test_a_job_spec_names_a_shared_key_and_suggests_it(tmp_path: Path) -> None:
    data = {"name": "j", "source": {"kind": "local", "folder": str(tmp_path)},
            "subset": [{"name": "main"}], "layout": [{"subset": "main", "grid": "128x128"}],
            "render": [{"kind": "falling", "reverb": 120}]}
    with pytest.raises(ConfigError, match=r"render\[0\]\.reverb: Input should be less than "
                                          r"or equal to 100 \(got 120\)"):
        validate_spec(data)
    data["render"] = [{"kind": "poster", "reverb": 10}]  # a still has no sound
    with pytest.raises(ConfigError, match=r"unknown key 'render\[0\]\.reverb'"):
        validate_spec(data)
    data["render"] = [{"kind": "stretch", "pad_after": 10}]
    with pytest.raises(ConfigError, match=r"did you mean 'pad_after_ms'\?"):
        validate_spec(data)
    data["render"] = [{"kind": "flow"}]
    out = validate_spec(data)["render"][0]
    assert (out["pad_after_ms"], out["margin"], out["brightness"]) == (6000.0, 0.0667,
                                                                       [0.33, 1.0])
