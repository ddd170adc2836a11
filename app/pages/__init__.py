"""HTML pages the API serves itself (/account/...): small, server-rendered, no script, forms guarded against CSRF.

Above the domains and beside app.ops: a page reads a form, calls a domain's service, renders the outcome."""
