"""`orchestrator serve`: dry-run, health, status and metrics over HTTP (read-only).

orchestrator.interfaces.http.app is the WSGI application, orchestrator.interfaces.http.openapi its OpenAPI
document (committed as docs/openapi.json), orchestrator.interfaces.http.server the process.
"""
