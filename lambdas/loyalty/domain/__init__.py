"""Pure loyalty domain: order models, recognition, validation, discounts, points.

Nothing in this package talks to AWS or reads the environment, so every rule here
can be unit-tested in isolation and reused by any Lambda handler.
"""
