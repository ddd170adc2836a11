"""The shipped recipe catalog: at least 200 complete recipes in the documented shape, whose ingredient lines name
the ingredient table's entries (so that nutrition can be computed for them)."""

from __future__ import annotations

from app.ingredients.catalog import read_catalog
from app.ingredients.units import UnitWeights, to_grams
from app.recipes.catalog import read_recipes


def test_at_least_200_unique_complete_recipes() -> None:
    recipes = read_recipes()
    assert len(recipes) >= 200
    assert len({r.slug for r in recipes}) == len(recipes)
    assert len({r.title.lower() for r in recipes}) == len(recipes)
    for recipe in recipes:
        assert 4 <= len(recipe.steps) <= 10, recipe.slug
        assert all(i.quantity is None for i in recipe.ingredients if i.unit == "to_taste"), recipe.slug
        assert all(i.quantity is not None for i in recipe.ingredients if i.unit != "to_taste"), recipe.slug
        assert "vegetarian" in recipe.dietary_tags or "vegan" not in recipe.dietary_tags, recipe.slug


def test_ingredient_lines_match_the_ingredient_table() -> None:
    known = {}
    for item in read_catalog():
        for name in (item.name, *item.aliases):
            known[name] = item
    lines = [line for recipe in read_recipes() for line in recipe.ingredients]
    matched = [line for line in lines if line.name in known]
    assert len(matched) / len(lines) >= 0.9
    # And most matched lines convert to grams with the table's unit weights.
    convertible = [
        line
        for line in matched
        if line.unit == "to_taste" or to_grams(line.quantity, line.unit, _weights(known[line.name])).grams is not None
    ]
    assert len(convertible) / len(matched) >= 0.9


def _weights(item) -> UnitWeights:  # type: ignore[no-untyped-def]
    grams = item.grams_per
    return UnitWeights(grams.piece, grams.cup, grams.tbsp, grams.tsp, item.ml_density)
