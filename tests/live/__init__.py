"""Harness of the live test (tests/test_live.py): real services, a real Prometheus, no cluster.

- ``operator``: a PodMonitor and fake pods -> the scrape job the Prometheus Operator generates.
- ``fleet``: the rendered objects the test reads (PodMonitors, workloads, analysis, scaling, rules).
- ``procs``: child processes in process groups, free ports, polling with deadlines.
- ``prom``: Prometheus: config, start, HTTP API.
- ``traffic``: a bounded open-loop client that records every request.
- ``report``: checks and the driven-vs-recorded table.
- ``fault_app``: runs a Python model service with fault injection (in the services' venv).

This package imports nothing heavy at import time: ``fault_app`` runs under the services' own
venv with ``tests/`` on ``sys.path``.
"""
