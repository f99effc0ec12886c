"""One stack per service, composed from `cdk_constructs`."""

# The Node.js jsii starts with (the pinned one), before any stack imports `aws_cdk`.
import cdk_constructs._node  # noqa: F401
