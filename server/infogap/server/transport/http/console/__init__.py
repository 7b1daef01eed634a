"""The web console at ``/console/`` on the HTTP port: catalogs and their models, customers,
segments, experiments and evaluations, as server-rendered HTML pages (no JavaScript).

``Console(core, gate)`` is its WSGI application (``app.py``); each page group has a module.
"""
