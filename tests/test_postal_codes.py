"""Postal codes judged by the country's (and state's) real rules, not guesses."""

from __future__ import annotations

import pytest

from exceptions.postal import is_placeholder, postal_problem, postal_rules

# A real code and a code that cannot exist, for each country merchants ship to most.
COUNTRIES = [
    ("US", "12345", "1234"),
    ("CA", "K1A 0B1", "123 456"),
    ("GB", "SW1A 1AA", "12345"),
    ("DE", "10969", "1234"),
    ("FR", "75001", "7500"),
    ("IT", "00184", "ABCDE"),
    ("ES", "28013", "2801"),
    ("NL", "1012 AB", "1012"),
    ("BE", "1000", "10000"),
    ("AT", "1010", "101"),
    ("CH", "8001", "80010"),
    ("DK", "1050", "10500"),
    ("SE", "114 55", "1145"),
    ("PL", "00-950", "0095"),
    ("AU", "2000", "20000"),
    ("IE", "D02 X285", "D02"),
]


@pytest.mark.parametrize(("country", "valid", "invalid"), COUNTRIES)
def test_each_country_accepts_its_real_codes_and_refuses_impossible_ones(country, valid, invalid):
    assert postal_problem(valid, country) is None
    assert postal_problem(invalid, country) == f"not a {country} postal code"


def test_12345_is_schenectady_not_a_placeholder():
    assert not is_placeholder("12345")
    assert postal_problem("12345", "US", "NY") is None


@pytest.mark.parametrize("postal", ["00000", "XXXXX", "9999", "N/A", "tbd", "?"])
def test_placeholders_are_named_as_such(postal):
    assert postal_problem(postal, "DE") == "placeholder"


def test_a_zip_from_another_state_is_caught_by_name_or_code():
    assert postal_problem("94103", "US", "NY") == "not a NY postal code"
    assert postal_problem("94103", "US", "New York") == "not a NY postal code"
    assert postal_problem("94103", "US", "CA") is None
    assert postal_problem("10001-1234", "US", "NY") is None


def test_an_unknown_state_still_gets_the_country_check():
    assert postal_problem("94103", "US", "Atlantis") is None
    assert postal_problem("9410", "US", "Atlantis") == "not a US postal code"


def test_a_whole_code_must_match_not_only_its_start():
    assert postal_problem("SW1A 1AA-junk", "GB") == "not a GB postal code"
    assert postal_problem("10969X", "DE") == "not a DE postal code"


def test_missing_counts_only_where_the_country_requires_a_code():
    assert postal_problem("", "GB") == "missing"
    assert postal_problem("", "US") == "missing"
    assert postal_problem("", "IE") is None  # Irish mail is delivered without an Eircode
    assert postal_problem("", "HK") is None  # no postal codes at all


def test_unknown_countries_are_not_judged():
    assert postal_rules("ZZ") is None
    assert postal_problem("1", "ZZ") is None
    assert postal_problem("", "") is None


def test_lowercase_and_padding_are_forgiven():
    assert postal_problem(" sw1a 1aa ", "GB") is None
    assert postal_problem("k1a 0b1", "CA") is None
