"""The Node.js that jsii runs the CDK on: the project's pinned one (``package.json``, installed by
``make setup`` into ``node_modules/``) when it is there, so a command run outside ``make``
(``.venv/bin/python -m local_cloud``, a bench) neither meets the machine's end-of-life Node nor
prints its eleven-line warning. Imported for this side effect before anything imports
``aws_cdk``: jsii reads ``JSII_NODE`` when it starts its Node process."""

from __future__ import annotations

import os
from pathlib import Path

PINNED_NODE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "node"

if PINNED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(PINNED_NODE))
