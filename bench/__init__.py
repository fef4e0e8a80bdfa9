"""Side-by-side benchmark of pyauditor against the reference client python-auditor 0.11.2.

``make bench`` runs :mod:`bench.run`, which starts the minimal servers of :mod:`bench.servers`,
runs every workload of :mod:`bench.child` alternately on both implementations (each run in a fresh
process) and writes ``bench/results/``; :mod:`bench.report` turns those results into the tables
and ``docs/benchmarks.md``.

The package is stdlib-only on purpose: the harness must not share code paths (httpx, JSON
helpers) with the implementation it measures.
"""
