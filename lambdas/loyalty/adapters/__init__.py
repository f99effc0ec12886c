"""Adapters to AWS services. The only modules of `loyalty` that talk to an AWS SDK client; each
takes its client in the constructor so tests and the local cloud can hand in their own."""
