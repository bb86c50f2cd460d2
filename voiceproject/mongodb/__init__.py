"""django-mongodb-backend, sending nested field specs in dotted form (see `compiler.py`)
and matching `iexact` literally (see `base.py`)."""
