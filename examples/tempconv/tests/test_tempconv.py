import pytest

from tempconv import (
    celsius_to_fahrenheit,
    celsius_to_kelvin,
    fahrenheit_to_celsius,
    kelvin_to_celsius,
)


def test_freezing_point_in_fahrenheit():
    assert celsius_to_fahrenheit(0) == 32


def test_body_temperature_in_fahrenheit():
    assert celsius_to_fahrenheit(37) == pytest.approx(98.6)


def test_boiling_point_in_celsius():
    assert fahrenheit_to_celsius(212) == pytest.approx(100)


def test_kelvin_round_trip():
    assert kelvin_to_celsius(celsius_to_kelvin(21.5)) == pytest.approx(21.5)


def test_below_absolute_zero_is_refused():
    with pytest.raises(ValueError):
        celsius_to_kelvin(-300)
    with pytest.raises(ValueError):
        kelvin_to_celsius(-1)
