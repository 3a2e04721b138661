"""Serving the app in production: waitress in one process (``server``), or gunicorn with several
(``processes``) and the timer executor as a supervised child (``executor_child``); logging (``logs``) and the
start-up banner (``banner``) as both print them."""
