"""A Celery example: a Flask view enqueues workflows, Celery workers run them (see README.md)."""
