"""Email: an outbox written in the writer's transaction (outbox.py), small escaped templates (templates.py), and
the sender that drains the outbox through SMTP or into files (delivery.py)."""
