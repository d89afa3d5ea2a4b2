"""Mixed precision's runtime: ``autocast`` regions (the policy itself is ``graphc/frontend/autocast_policy.py``)
and the ``GradScaler``; ``graphc.amp`` is their public name."""
