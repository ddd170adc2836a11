"""Load benchmarks: wrk against the app under granian, with a bare Litestar app as the baseline."""
