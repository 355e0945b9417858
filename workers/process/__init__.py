"""The ground floor: what a worker process owns alone (the Celery app object, the event loop
thread, its stores and leases, Prometheus metrics) and the one rule for it across ``fork``
(:mod:`workers.process.per_process`). Imports nothing else of ``workers``."""
