"""Route templates for span names, memoised.

OpenTelemetry's FastAPI instrumentation names each server span ``"{method} {route template}"``
by matching the request against every route of the app, on every request (there is no other
way to learn the template before routing). On the gateway, with a hundred-odd routes behind
included routers, that was a tenth of the CPU of a cached ``GET /api/v1/trades``. The answer
depends only on the scope's type, method and path, so it is remembered per path, in a bounded
table (paths carry ids: the table is cleared when full rather than allowed to grow).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.util.http import sanitize_method
from starlette.routing import Match

MAX_REMEMBERED = 4096

SpanDetails = tuple[str, dict[str, str]]


class RouteNames:
    """``span_details(scope)`` for ``OpenTelemetryMiddleware``: the same names and ``http.route``
    attribute as ``FastAPIInstrumentor`` gives, computed once per (type, method, path)."""

    def __init__(self, app: FastAPI, max_remembered: int = MAX_REMEMBERED) -> None:
        self.app = app
        self.max_remembered = max_remembered
        self.remembered: dict[tuple[str, str, str], SpanDetails] = {}

    def route_of(self, scope: dict[str, Any]) -> str | None:
        """The template of the route the request goes to: the first full match, else the last
        partial one (a path matched with another method), else none."""
        route: str | None = None
        for context in iter_route_contexts(self.app.routes):
            match, _ = context.matches(scope)
            if match == Match.FULL:
                return context.path or scope.get("path")
            if match == Match.PARTIAL:
                route = context.path
        return route

    def span_details(self, scope: dict[str, Any]) -> SpanDetails:
        key = (scope.get("type", ""), scope.get("method", ""), scope.get("path", ""))
        known = self.remembered.get(key)
        if known is not None:
            return known
        route = self.route_of(scope)
        method = sanitize_method(key[1].strip())
        if method == "_OTHER":
            method = "HTTP"
        attributes = {HTTP_ROUTE: route} if route else {}
        name = f"{method} {route}" if method and route else (route or method)
        if len(self.remembered) >= self.max_remembered:
            self.remembered.clear()
        self.remembered[key] = (name, attributes)
        return name, attributes
