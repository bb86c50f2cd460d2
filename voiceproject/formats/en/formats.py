"""English (and LANGUAGE_CODE en-in, which Django has no formats of its own for): day before
month, a 24-hour clock, the month by name so that no date reads both ways. Input formats are
Django's (the admin's date widgets write 2026-11-06)."""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
