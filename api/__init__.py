"""The faces of the registry: the FastAPI app, its routes and the command line."""
