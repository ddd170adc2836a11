"""Peers: apps written the way a small team would write the same work with common libraries, served by granian like
the baseline (bench/baseline_app.py) and measured in the same run as the project's counterparts (bench/peer_runs.py,
the "vs peer" column of the report). One module per peer; each builds its app from arguments (`create_app`, what
the tests call) or, in a granian worker, from its PEER_* environment variables."""
