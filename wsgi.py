"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
import gc

from backend import create_app

app = create_app()
# Everything loaded so far (the libraries, the app, its schemas and routes) lives as long as the
# process: keep the collector from walking it again at every full collection, which otherwise
# stalls a request for about 100 ms every few requests of a large statistic.
gc.freeze()
