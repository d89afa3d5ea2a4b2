"""Function transforms (``graphc.func``): vmap, grad, vjp, jvp, jacobians, functional_call, checkpoint.

They work on graphc's lazy graphs: each transform runs the user's function once to record
nodes, then rewrites or differentiates those nodes (docs/decisions.md, "Function transforms").
"""
