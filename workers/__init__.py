"""Processes that run outside AWS's push and call in: the activity pattern's back-office worker
(``stacks/patterns_demo.py``). Not part of the Lambda asset."""
