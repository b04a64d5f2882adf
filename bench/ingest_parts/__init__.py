"""The parts of `bench/ingest.py` that only that benchmark uses.

The script keeps its options, the order of its measurements and its verdict; how the
server is run, what is sent, how COPY is timed, how CPU is counted and how the tables
are laid out live here, one concern per module, so each can be read on its own:

* `config`: the run's settings, as the script's options resolve them.
* `server`: the database it recreates, the tenant and key, gunicorn as the Procfile runs it.
* `traffic`: the requests (health, single events, batches) and how each answer is judged.
* `copy_baseline`: PostgreSQL COPY of the rows the batches stored, the batch ratio's baseline.
* `measure`: CPU accounting (and py-spy sampling) around each measurement.
* `report`: the measurement table, its CPU lines and the checks of what was stored.
"""
