"""gunicorn settings for `bench/ingest.py`'s bound: the project's own
e2a_project/gunicorn.conf.py, unchanged, plus one step in each worker once the app
is loaded: the SLA clocks' projection hook is unregistered.

Bench only. The product always moves an order's clocks in the transaction that
stores its event (the rule is in orders/projection_hooks.py and slas/apps.py);
this server exists to measure what ingestion costs without that work, side by
side with the real one, so that the report can say how far the rest would go.
"""

from pathlib import Path

_CONF = Path(__file__).resolve().parents[2] / "e2a_project" / "gunicorn.conf.py"
exec(compile(_CONF.read_text(), str(_CONF), "exec"))  # the project's own settings, verbatim

_project_post_worker_init = post_worker_init  # noqa: F821 - defined by the file above


def post_worker_init(worker):  # gunicorn hook, after the app is loaded
    _project_post_worker_init(worker)
    from orders import projection_hooks

    projection_hooks.unregister("slas.clocks")
