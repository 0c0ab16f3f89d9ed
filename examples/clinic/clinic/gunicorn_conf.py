"""gunicorn settings of the clinic example: `gunicorn --config python:clinic.gunicorn_conf`."""

import gc
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Two synchronous worker processes: plenty for one demo tenant. (Sync workers also wake
# at once on SIGTERM; gthread workers poll for up to a second first.)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# Import the app (pandas, SQLAlchemy, seeding) once in the master, then fork: workers are
# ready as soon as they exist.
preload_app = True
# On SIGTERM (docker stop), finish in-flight requests for at most 2 s, then exit: a rollout
# should never wait for Docker's 10 s kill timeout.
graceful_timeout = 2
timeout = 30
# Heartbeat files in memory, not on the container's overlay file system.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
loglevel = "info"


def when_ready(server):
    # The app is loaded and the workers are about to be forked: move every object so far
    # into the collector's permanent generation. Forked workers then share those pages
    # instead of copying them on the first collection, and exiting processes skip tearing
    # down pandas' and numpy's object graphs (a faster docker stop).
    gc.freeze()


def post_fork(server, worker):
    # The preloaded app opened SQLite connections in the master; a forked worker must not
    # reuse them, so it drops the inherited pool (without closing the master's handles).
    from clinic.wsgi import app

    app.extensions["clinic.engine"].dispose(close=False)
