"""Quantities to grams: mass units exactly, volumes through the ingredient's household weights (USDA measures) or
its density, pieces through its typical piece weight. What cannot be converted is said, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["g", "kg", "oz", "lb", "ml", "l", "cup", "tbsp", "tsp", "piece", "to_taste"]
GRAMS_PER: dict[str, float] = {"g": 1.0, "kg": 1000.0, "oz": 28.349523125, "lb": 453.59237}
# US customary volumes in millilitres (the app's recipes use US cups and spoons).
ML_PER: dict[str, float] = {"ml": 1.0, "l": 1000.0, "cup": 236.5882365, "tbsp": 14.78676478125, "tsp": 4.92892159375}


Method = Literal["mass", "household", "density", "piece", "unconvertible", "to_taste"]


@dataclass(frozen=True)
class UnitWeights:
    """An ingredient's grams per household unit and density (None where unknown)."""

    piece: float | None = None
    cup: float | None = None
    tbsp: float | None = None
    tsp: float | None = None
    ml_density: float | None = None


@dataclass(frozen=True)
class Grams:
    grams: float | None
    # How the figure was found: exact (mass), measured (USDA household weight), density, piece, or why not.
    method: Method


def to_grams(quantity: float | None, unit: str, weights: UnitWeights) -> Grams:
    if unit == "to_taste" or quantity is None:
        return Grams(None, "to_taste")
    factor, method = _grams_per_unit(unit, weights)
    return Grams(quantity * factor if factor is not None else None, method)


def _grams_per_unit(unit: str, weights: UnitWeights) -> tuple[float | None, Method]:
    if unit in GRAMS_PER:
        return GRAMS_PER[unit], "mass"
    spoon = _spoon_weight(unit, weights)
    if spoon is not None:
        return spoon, "household"
    if unit in ML_PER and weights.ml_density is not None:
        return ML_PER[unit] * weights.ml_density, "density"
    if unit == "piece" and weights.piece is not None:
        return weights.piece, "piece"
    return None, "unconvertible"


def _spoon_weight(unit: str, weights: UnitWeights) -> float | None:
    """A cup, tablespoon or teaspoon weight: the ingredient's own, else scaled from another of the three
    (1 cup = 16 tbsp = 48 tsp)."""
    in_tsp = {"cup": 48.0, "tbsp": 3.0, "tsp": 1.0}
    if unit not in in_tsp:
        return None
    known = {"cup": weights.cup, "tbsp": weights.tbsp, "tsp": weights.tsp}
    if known[unit] is not None:
        return known[unit]
    for other, grams in known.items():
        if grams is not None:
            return grams / in_tsp[other] * in_tsp[unit]
    return None
