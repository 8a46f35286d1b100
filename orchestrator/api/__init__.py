"""`orchestrator serve`: dry-run, health, status and metrics over HTTP (read-only).

orchestrator.api.app is the WSGI application, orchestrator.api.openapi its OpenAPI
document (committed as docs/openapi.json), orchestrator.api.server the process.
"""
