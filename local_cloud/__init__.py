"""The embedded local cloud behind ``make run`` and the end-to-end tests.

It runs the real app, not a copy of it: the CDK app is synthesised in-process, the templates are
deployed into moto (in-process, ``mock_aws`` with the Step Functions ASL engine on), and events,
state machines, rules and handlers are the ones ``cdk deploy`` ships. The stand-in loyalty vendor
(the top-level ``fake_vendor`` package, a room of its own) listens on 127.0.0.1.

What moto lacks, and only that, is emulated by ``local_cloud.runtime`` (its modules named below);
``LocalCloud`` (``cloud``, one job a module: ``resources``, ``events``, ``orders``,
``queue_messages``, ``in_flight``, ``faults``, ``api_callers``) puts it together, and
``local_cloud.run`` is the run command (``python -m local_cloud run``) that drives batches of
orders through it:

* **Lambda** (``lambda_runtime``, ``sqs_pollers``): moto's Lambda needs Docker; handlers run
  in-process. Like Lambda, each concurrent invocation gets an execution environment of its own (a
  separate instance of the handler module and of its package's modules, reused warm; Powertools'
  per-process request state per thread, ``powertools_state``), the function's environment variables
  (from the template; per thread, the process environment is never changed), Lambda's
  async-invoke semantics (two retries, then the on-failure destination), SQS event source
  mappings (batches, maximum concurrency, partial batch failures) and a log sink
  (``.local_cloud/logs/<function>.log``).
* **EventBridge rule targets of type Lambda and Step Functions** (``event_router``): moto raises
  ``NotImplementedError`` for them. Rules, patterns and targets are created in moto as
  synthesised; only the delivery to these two target types is done here.
* **CloudFormation** (``deployer``): moto's CloudFormation creates state machines its ASL engine
  cannot run and cannot run Lambda assets, so a small deployer walks the synthesised templates,
  resolves their intrinsic functions and creates each resource through the service APIs. Roles
  and their policies are created in moto's IAM and each function runs with its role's assumed
  credentials.
* **IAM for the functions' calls** (``iam_enforcement``, ``iam_policy``, ``moto_iam``): moto's
  access control evaluates no condition keys but ``sts:ExternalId`` and denies on any failed
  condition, so each call signed by a function's role is authorised here, with IAM's logic,
  against the role's policies as deployed in moto; refused calls get the service's
  ``AccessDenied`` and never reach moto. Resource policies and the state machines' roles are not
  evaluated (construct tests check them).
* **API Gateway's IAM authorization** (``iam_auth``, used by ``api_gateway``): SigV4 signatures
  are checked against moto's IAM access keys and ``execute-api:Invoke`` against the signer's
  policies, with API Gateway's 403 answers; the signer is the function's
  ``requestContext.identity``. The local cloud's callers are IAM users (``LocalCloud.api``).
* **The Step Finisher's aws-sdk parameters**: moto's ``aws-sdk:sfn:sendTaskSuccess`` accepts only
  camelCase parameter names; AWS requires the PascalCase the template has. The deployer
  translates them when it registers the definition in moto (``deployer.camel_case_aws_sdk``).
* **moto bugs** that change what the app observes (``moto_patches``): ``SendTaskFailure``'s
  ``cause`` is forwarded, a task token is no longer lost when an execution starts at the
  moment it is sent, an answer asks only the execution that issued its token, and DynamoDB
  queries read snapshots (moto's walk over a table, and its sizing of an item, failed when
  another thread's write changed them meanwhile).
"""

import sys as _sys
from pathlib import Path as _Path

# `lambdas/` is the Lambda asset root: handlers and their shared `loyalty` package import from it
# exactly as in Lambda.
_LAMBDAS = str(_Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in _sys.path:
    _sys.path.insert(0, _LAMBDAS)
