"""Where orders are kept: the orders table (with the staff's status index), the actions table
and the claim-check documents bucket. The one construct here that knows a schema: the tables'
keys come from ``loyalty.order_status``, which the handlers that write them share."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnElement, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.data_table import data_table
from cdk_constructs.nag import acknowledge
from loyalty.order_status import (
    ACTION_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    STATUS_INDEX,
    STATUS_INDEX_ATTRIBUTES,
    STATUS_SINCE,
)


class OrderStore(Construct):
    """The order records (one per order and one per item: points, each voucher, each reward),
    the steps waiting for a person (their task tokens, kept server-side, expiring by TTL) and
    the documents of orders too large to travel inline.

    ``documents_removal`` and ``auto_delete_documents`` say what becomes of the bucket when it
    leaves the stack: kept, or emptied and deleted (a bucket must be empty to be deleted).

    Attributes: ``orders_table``, ``actions_table``, ``documents``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        documents_bucket_name: str,
        documents_removal: RemovalPolicy,
        auto_delete_documents: bool,
    ) -> None:
        super().__init__(scope, id)
        self.orders_table = data_table(
            self, "Orders", partition_key=PARTITION_KEY, sort_key=SORT_KEY
        )
        # The staff's queues (GET /orders?status=...): order records only, newest first.
        self.orders_table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=STATUS_SINCE, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(STATUS_INDEX_ATTRIBUTES),
        )
        self.documents = s3.Bucket(
            self,
            "OrderDocuments",
            bucket_name=documents_bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(400))],
            removal_policy=documents_removal,
            auto_delete_objects=auto_delete_documents,
        )
        acknowledge(
            self.documents,
            "AwsSolutions-S1",
            "A claim-check store read and written only by this app's function roles (see their "
            "policies); server access logs would need a second bucket to audit what IAM already "
            "confines; enable CloudTrail S3 data events for an audit trail",
        )
        self.actions_table = data_table(
            self,
            "Actions",
            partition_key=PARTITION_KEY,
            sort_key=ACTION_SORT_KEY,
            time_to_live_attribute="expiration",
        )


def keep_logical_ids(scope: Construct, logical_ids: Mapping[str, str]) -> None:
    """Give each CloudFormation element under ``scope`` whose path relative to ``scope`` (e.g.
    ``Orders/Resource``) is a key of ``logical_ids`` that logical ID: for resources deployed
    before they moved into a construct. CloudFormation replaces a resource whose logical ID
    changes, and a replaced table or bucket is a new, empty one. Paths not built here (the
    bucket's auto-delete resource, in a copy that keeps its data) are skipped."""
    prefix = f"{scope.node.path}/"
    for child in scope.node.find_all():
        if isinstance(child, CfnElement):
            logical_id = logical_ids.get(child.node.path.removeprefix(prefix))
            if logical_id:
                child.override_logical_id(logical_id)
