"""The R2D2 REST service (FastAPI): build it with :func:`api.main.create_app`."""
