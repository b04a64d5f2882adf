"""The parts of `bench/soak.py`: sampling, probes, the held pace, the report and the plots."""
