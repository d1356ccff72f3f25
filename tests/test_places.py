"""Country codes and names (attribution/places.py) read from pycountry's ISO 3166-1 file without
importing pycountry, against pycountry's own API."""

from __future__ import annotations

import pycountry

from lightsout.attribution import places
from lightsout.attribution.places import country_alpha2, country_name


def test_country_names_and_codes_equal_pycountrys() -> None:
    known = list(pycountry.countries)
    assert len(known) > 240
    assert places._iso3166_file() == places._pycountry_countries()  # the file is what the API reads
    for country in known:
        name = getattr(country, "common_name", None) or country.name
        assert country_name(country.alpha_2) == name
        assert country_alpha2(country.alpha_3) == country_alpha2(country.alpha_2.lower()) == country.alpha_2
    assert (country_name("IR"), country_name("ir"), country_name("TW")) == ("Iran", "Iran", "Taiwan")
    # codes ISO does not know: the code stays the name, no alpha-2 for it
    assert (country_name("XK"), country_name("EU"), country_name("IRN")) == ("XK", "EU", "IRN")
    assert country_alpha2("ZZ") is None and country_alpha2("IRAN") is None and country_alpha2(" irn ") == "IR"
