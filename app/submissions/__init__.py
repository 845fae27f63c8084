"""Everything that happens to a submission, below the web layer and free of requests: creating it (create.py),
staff decisions (decisions.py), what its sender does with the receipt (owner.py), readers' reports (reports.py),
the staff queue (queue.py), the published ads (ads.py), and its end (retention.py)."""
