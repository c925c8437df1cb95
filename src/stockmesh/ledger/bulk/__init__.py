"""The ledger's throughput machinery, in one place: what makes a million-command ingest fast and
writes exactly the ledger the plain path writes.

- ``folds``: the commonest commands (plain sales, shipments, receipts) decided and folded in one
  pass, without event objects (``service/execute.py`` tries them before ``decide``);
- ``writer``: a big batch's SQL in a second process (``python -m stockmesh.ledger.bulk.writer``);
- ``gc_pause``: the cyclic garbage collector paused during a bulk pass.

The parts that read command files (the parse and the fingerprint worker) need the service's strict
JSON loader, so they live one layer up, in ``service/bulk/``.
"""
