"""One stack per service, composed from `cdk_constructs`."""
