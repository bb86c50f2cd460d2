"""django-mongodb-backend, sending nested field specs in dotted form (see `compiler.py`)."""
