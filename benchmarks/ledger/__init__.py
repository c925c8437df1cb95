"""The ledger benchmark (``python -m benchmarks.ledger``): throughput, latency and replay against targets.

Everything is measured in one process run, on one machine, against two references measured in the
same run: the *floor* (a raw ``sqlite3.executemany`` of the very same event rows into a table with
the same unique index) and the *peer* (the ``eventsourcing`` library, 9.x, with its SQLite
persistence, appending the same number of events). Each figure is the median of ``runs`` runs, with
min and max; every run starts from a fresh database file.

Phases of one run (SQLite, then PostgreSQL with the same workload at ``pg_events``):

1. batched append: ``ingest_file(update_views=False)`` of a JSON-lines file of ~N events;
2. read-model catch-up: ``catch_up`` over the new ledger;
3. replay: ``replay`` (drop the read models, fold the whole ledger again);
4. single-command append: ``execute`` of one command at a time, each its own transaction;
5. ReserveStock latency: single ReserveStock commands against ample stock, each timed alone;
6. end-to-end ingest: ``ingest_file`` with the read models, into another fresh database.

Then, once: a ledger of M events is built in chunks and replayed in a fresh subprocess that reports
its own peak RSS (``ru_maxrss``).

The input files are generated beforehand (not timed) by
``stockmesh.simulation.synthetic_ledger.CommandGenerator``: valid commands over ``skus`` x
``sites`` stock positions, so every batch is written all or nothing.

Modules: ``__main__`` (the command line), ``run`` (the whole benchmark), ``backend`` (stockmesh's
phases on one backend), ``floor`` and ``peer`` (the references), ``large_replay`` with its child
programs ``build_child`` and ``replay_child``, ``workload``, ``report`` (targets and tables),
``config``, ``stats``, ``machine``, ``ui``, ``postgres``. This package imports nothing itself, so a
child program's peak RSS is its own.
"""
