"""Demo traffic: realistic orders and events with a known share of known problems.

`generator` makes the orders and their events (pure, seeded, no database); `send`
delivers them over HTTP or in-process. The problem kinds and the reason code E²A
should open for each are data here (`PROBLEM_REASONS`), so a detection score can
compare what was made with what was opened.
"""
