"""The one registry class behind protocols and architectures: explicit, duplicates refused, helpful."""

import pytest

from elsewhere.errors import ElsewhereError
from elsewhere.registry import Registry


@pytest.fixture
def colours() -> Registry[int]:
    registry: Registry[int] = Registry("colour")
    for value, name in enumerate(("red", "green", "blue")):
        registry.register(name, value)
    return registry


def test_entries_come_back_by_name_in_registration_order(colours):
    assert colours.get("green") == 1
    assert colours.names() == ("red", "green", "blue") == tuple(colours)
    assert "blue" in colours and "cyan" not in colours and len(colours) == 3


def test_register_returns_the_entry_so_it_can_decorate(colours):
    entry = object()
    assert colours.register("cyan", entry) is entry


def test_a_taken_name_is_refused_and_the_first_entry_kept(colours):
    with pytest.raises(ElsewhereError, match="colour 'red' is already registered"):
        colours.register("red", 99)
    assert colours.get("red") == 0


@pytest.mark.parametrize("name", ["", "   ", None, 3, ("red",)])
def test_a_name_must_be_a_non_empty_string(colours, name):
    with pytest.raises(ElsewhereError, match="non-empty string"):
        colours.register(name, 5)


def test_an_unknown_name_gets_the_closest_and_every_valid_one_in_one_line(colours):
    with pytest.raises(ElsewhereError) as error:
        colours.get("gren")
    assert str(error.value) == "unknown colour 'gren' (did you mean 'green'?); valid colours: red, green, blue"


def test_nothing_close_means_no_suggestion(colours):
    with pytest.raises(ElsewhereError, match=r"^unknown colour 'xyz'; valid colours: red, green, blue$"):
        colours.get("xyz")


@pytest.mark.parametrize("name", [None, 7, ["red"], {"a": 1}])
def test_a_name_of_the_wrong_type_is_an_unknown_name_not_a_crash(colours, name):
    with pytest.raises(ElsewhereError, match="unknown colour"):
        colours.get(name)
    assert name not in colours


def test_a_huge_name_is_quoted_back_shortened(colours):
    with pytest.raises(ElsewhereError) as error:
        colours.get("g" * 1_000_000)
    assert len(str(error.value)) < 200 and "\n" not in str(error.value)


def test_an_empty_registry_says_so():
    with pytest.raises(ElsewhereError, match="valid shapes: none are registered"):
        Registry("shape").get("square")


def test_a_copy_is_independent(colours):
    twin = colours.copy()
    twin.register("cyan", 3)
    assert "cyan" in twin and "cyan" not in colours
    assert twin.names()[:3] == colours.names()
