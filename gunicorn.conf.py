"""gunicorn settings for `make run` and the benchmarks: workers and threads from the machine's cores.

Override with GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_BIND. No access log: it would hold addresses.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
accesslog = None
# No control socket (gunicorn 25+ opens one in $HOME or $XDG_RUNTIME_DIR by default): nothing here needs to resize or
# reload the workers at run time, and the service's home is read-only.
control_socket_disable = True
timeout = 60
graceful_timeout = 10
