"""Data read from files: CSV exports (``csv_files``) and MovieLens-style folders (``movielens``).

A leaf below both the CLI and the offline evaluation: it imports nothing else of the server.
"""
