"""The HTTP interface: one module of routes per area of the API, above the workflows.

Routes stay thin: they parse input, resolve the caller and the object (dependencies in each
domain's ``deps.py``), call one workflow or one single-domain service, and shape the response.
No rule lives here; rules live in the domain packages, cross-domain use cases in ``workflows``.
"""
