"""The local Order API's callers: IAM users with access keys, and clients that sign as them."""

from __future__ import annotations

import json

from botocore.credentials import Credentials

from local_cloud.api_client import ApiClient
from local_cloud.resources import ACCOUNT, REGION, CloudResources
from local_cloud.runtime.api_gateway import LocalRestApi

API_CALLERS = {
    "client": "submits and cancels orders",
    "reviewer": "decides approvals (not of orders it submitted), re-runs orders",
}
"""The local Order API's callers, each an IAM user (``local-<name>``) with an access key, and what
each does (separation of duties: a reviewer does not decide orders it submitted)."""


class ApiCallers(CloudResources):
    """Who may call the Order API, and a client for each."""

    api_credentials: dict[str, Credentials]

    def _create_api_callers(self, apis: dict[str, LocalRestApi]) -> dict[str, Credentials]:
        """An IAM user with an access key per ``API_CALLERS`` entry, allowed to invoke the
        APIs: the principals that sign local Order API requests."""
        iam = self.client("iam")
        credentials: dict[str, Credentials] = {}
        if not apis:  # an app without an API (the patterns demo): nobody to sign for
            return credentials
        for caller in API_CALLERS:
            user = f"local-{caller}"
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName="InvokeOrderApi",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "execute-api:Invoke",
                                "Resource": [
                                    f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.api_id}/*"
                                    for api in apis.values()
                                ],
                            }
                        ],
                    }
                ),
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            credentials[caller] = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        return credentials

    def api(self, caller: str = "client", *, timeout: float = 10) -> ApiClient:
        """A client of the Order API that signs as ``caller`` (one of ``API_CALLERS``)."""
        return ApiClient(
            self.api_url, credentials=self.api_credentials[caller], region=REGION, timeout=timeout
        )
