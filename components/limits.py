"""AWS's documented limits and the rules derived from them, in one place.

Ranges are (minimum, maximum) inclusive. Sources: botocore's service models for Lambda,
SQS and CloudWatch Logs (the API's own constraints) and the service guides cited inline.
"""

from __future__ import annotations

from typing import Final

# Lambda event source mapping for an SQS standard queue (botocore lambda model: BatchSize
# 1-10000, MaximumBatchingWindowInSeconds 0-300, ScalingConfig.MaximumConcurrency 2-1000).
BATCH_SIZE: Final = (1, 10_000)
# "when you set BatchSize to a value greater than 10, you must set
# MaximumBatchingWindowInSeconds to at least 1" (Lambda API reference).
BATCH_SIZE_WITHOUT_WINDOW: Final = 10
BATCHING_WINDOW: Final = (0, 300)
MAX_CONCURRENCY: Final = (2, 1000)

# Lambda function quotas for on-demand functions (Lambda developer guide, quotas page).
FUNCTION_MEMORY: Final = (128, 10_240)
FUNCTION_TIMEOUT: Final = (1, 900)

# SQS (developer guide, quotas and RedrivePolicy): retention 60-1209600 s, maxReceiveCount
# 1-1000. Visibility may be up to 43200 s, which the derived one (at most 6 x 900 + 300) never
# reaches.
QUEUE_RETENTION: Final = (60, 1_209_600)
DLQ_RETENTION_SECONDS: Final = 1_209_600
MAX_RECEIVE_COUNT: Final = (1, 1000)
# ApproximateAgeOfOldestMessage: "if a message is received three or more times and not
# deleted, SQS moves it to the back of the queue. The metric then reflects the age of the next
# message" (SQS developer guide, sqs-available-cloudwatch-metrics).
OLDEST_MESSAGE_COUNTED_RECEIVES: Final = 3
# ReceiveMessageWaitTimeSeconds is at most 20; the maximum gives the cheapest long polling.
LONG_POLL_SECONDS: Final = 20

# CloudWatch Logs PutRetentionPolicy accepts only these values (botocore logs model, `Days`).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# EKS managed node groups: gp3 root volume 1-16384 GiB; AL2023 AMIs need 20 GiB.
NODE_DISK_GIB: Final = (20, 16_384)
MAX_NODES: Final = 450  # managed node group quota: nodes per node group
MAX_AZS: Final = 6
MAX_REPLICAS: Final = 100
# The app's HorizontalPodAutoscaler target, in percent of the CPU request. Above 100 the pods
# would be meant to run beyond what they reserved, on CPU the scheduler may have promised to
# other pods (and, with a CPU limit equal to the request, the target could never be reached).
CPU_UTILIZATION: Final = (1, 100)

NODE_ARCHITECTURES: Final = ("arm64", "amd64")
FUNCTION_ARCHITECTURES: Final = ("arm64", "x86_64")
NAT_GATEWAYS: Final = ("perAz", "single")
CAPACITY_TYPES: Final = ("ON_DEMAND", "SPOT")
# EKS UpgradePolicy `supportType` (EKS API reference, UpgradePolicyRequest).
EKS_SUPPORT_TYPES: Final = ("STANDARD", "EXTENDED")
# EC2 CreateFlowLogs `TrafficType` values that record rejected traffic, which Security Hub
# EC2.6 and the CIS AWS Foundations Benchmark ask for; EC2's third value, ACCEPT, omits it.
FLOW_LOG_TRAFFIC_TYPES: Final = ("ALL", "REJECT")


def poison_message_age(max_receive_count: int, visibility_timeout: int) -> int:
    """The age one poison message (received, never deleted) can reach while SQS still counts it
    in ApproximateAgeOfOldestMessage: one visibility timeout per receive, until its third
    receive or its move to the dead-letter queue, whichever comes first."""
    return min(OLDEST_MESSAGE_COUNTED_RECEIVES, max_receive_count) * visibility_timeout


def visibility_timeout_for(function_timeout: int, batching_window: int) -> int:
    """The queue visibility timeout AWS recommends for a Lambda consumer.

    "set the source queue's visibility timeout to at least six times the configuration
    timeout on your function" (Lambda guide, services-sqs-configure); the batching window is
    added because messages are already in flight while the poller fills a batch.
    """
    return 6 * function_timeout + batching_window


# An IAM role ARN (any partition); role paths and names as IAM allows them.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
IAM_ROLE_ARN = (
    r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}"
)
# An IAM managed policy ARN (any partition): a customer managed policy of an account, or one of
# AWS's (account `aws`); paths and names as IAM allows them (names up to 128 characters).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
IAM_POLICY_ARN = (
    r"arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/([A-Za-z0-9_+=,.@-]+/)*"
    r"[A-Za-z0-9_+=,.@-]{1,128}"
)
# EKS CreateCluster `name`: 1-100 characters, "^[0-9A-Za-z][A-Za-z0-9\-_]*$" (EKS API reference).
EKS_CLUSTER_NAME = r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}"
# An IAM role or user ARN (any partition): what an EKS access entry's principal may be.
IAM_PRINCIPAL_ARN = (
    r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}"
)

# An ACM certificate ARN (any partition): certificate ids are UUIDs.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscertificatemanager.html
ACM_CERTIFICATE_ARN = (
    r"arn:aws(-[a-z]+)*:acm:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:certificate/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# A Kubernetes namespace name: an RFC 1123 label (Kubernetes' "Object Names and IDs").
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
