"""Run a Python model service of the example fleet (services/<name>/app.py) with fault injection.

Runs under the services' own venv (.venv/tools/services), as
``python -m live.fault_app --service-dir services/fraud-detector --port 8080`` with ``tests/`` on
``PYTHONPATH``. It imports the real ``app`` module and, before the first request, wraps the ASGI
app of the ``/predict`` Route (``Route.app``) so that a request header

- ``x-live-fault: error`` answers HTTP 500 without scoring;
- ``x-live-fault: slow`` waits ``SLOW_SECONDS`` and then scores as usual.

The wrapper sits inside the route, so the service's own ObservabilityMiddleware (telemetry.py)
counts and times these requests like any other: the live test checks that what it drove is what
the service's metrics recorded. Nothing else of the service changes; uvicorn serves it on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

FAULT_HEADER = b"x-live-fault"
SLOW_SECONDS = 0.3


def wrap_predict(app: Any) -> None:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    routes = [r for r in app.router.routes if isinstance(r, Route) and r.path == "/predict"]
    if len(routes) != 1:
        raise SystemExit(f"expected one /predict route, found {len(routes)}")
    route = routes[0]
    inner = route.app

    async def faulty(scope: Any, receive: Any, send: Any) -> None:
        fault = dict(scope.get("headers") or []).get(FAULT_HEADER, b"")
        if fault == b"error":
            more = True
            while more:  # read the body as a real handler would before answering
                message = await receive()
                more = bool(message.get("more_body", False))
            await JSONResponse({"error": "fault injected by the live test"}, status_code=500)(scope, receive, send)
            return
        if fault == b"slow":
            await asyncio.sleep(SLOW_SECONDS)
        await inner(scope, receive, send)

    route.app = faulty


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.service_dir)
    import app as service  # the real services/<name>/app.py
    import uvicorn

    wrap_predict(service.app)
    uvicorn.run(service.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
