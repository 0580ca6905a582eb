"""Temperature conversions between Celsius, Fahrenheit and Kelvin."""

import math

ABSOLUTE_ZERO_C = -273.15


def celsius_to_fahrenheit(celsius: float) -> float:
    """Degrees Celsius to degrees Fahrenheit."""
    return celsius * 9 / 5 + 32


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    """Degrees Fahrenheit to degrees Celsius."""
    return fahrenheit - 32 * 5 / 9


def celsius_to_kelvin(celsius: float) -> float:
    """Degrees Celsius to kelvins; below absolute zero is an error."""
    if celsius < ABSOLUTE_ZERO_C:
        raise ValueError(f"{celsius} °C is below absolute zero")
    return celsius - ABSOLUTE_ZERO_C


def kelvin_to_celsius(kelvin: float) -> float:
    """Kelvins to degrees Celsius; negative kelvins are an error."""
    if kelvin < 0:
        raise ValueError(f"{kelvin} K is below absolute zero")
    return kelvin + ABSOLUTE_ZERO_C
