"""The parts of `bench/pipeline.py`: the worker, the paced load, the probes."""
