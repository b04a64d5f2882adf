"""The parts of `bench/sla_scan.py` that only that benchmark uses.

The script keeps its options, the two phases in their order and its verdict; the data
the scan runs on, the timing of each phase, the ingest sides and the tables behind
the verdict live here, one concern per module (bench/README.md lists them), so each
can be read and changed without the other thousand lines in view.
"""
