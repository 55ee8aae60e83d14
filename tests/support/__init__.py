"""What the tests share and are not tests themselves.

Servers on loopback (:mod:`.loopback`, :mod:`.raw_server`, :mod:`.pooled_server`,
:mod:`.load_server`, :mod:`.celery_support`), fixtures several test modules use
(registered in ``tests/conftest.py``), and helpers for reading what the database, the
admin, the error reports or a browser show. No module here imports a test module.
"""
