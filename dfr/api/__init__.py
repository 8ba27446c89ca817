"""The REST API: routers per resource over the operations service."""
