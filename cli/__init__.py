"""The ``whistle`` command line, above both the engine and the web service (it starts either)."""
