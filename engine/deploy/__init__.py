"""Deploying: reading a deployment's files (``sources``), checking them (``checks``, with the lint rules of
``rules``), storing new versions atomically (``deployer``) and calendars (``calendars``); ``lint`` runs the
checks without a database (``whistle lint``)."""
