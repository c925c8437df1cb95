"""The service's side of a big ingest: the command-file parse (``command_file``) and the
fingerprint worker (``fingerprints``: ``python -m stockmesh.service.bulk.fingerprints``). The rest
of the throughput machinery (fast folds, the writer process) is in ``ledger/bulk/``."""
