"""How the console writes dates and times: 24-hour, year first, as warehouses log them.

Django's English default ("Nov. 27, 2026, 11 a.m.") reads ambiguously on a night
shift and sorts badly when copied into a spreadsheet.
"""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
