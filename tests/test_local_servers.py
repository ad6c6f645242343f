import json

from local.servers import create_queues, moto_server


def test_moto_server_redrives_to_the_dlq_and_survives_a_restart():
    with moto_server() as server:
        sqs = server.client("sqs")
        q = create_queues(sqs, "t", visibility_timeout_seconds=0, max_receive_count=1)
        sqs.send_message(QueueUrl=q.url, MessageBody="x")
        first = sqs.receive_message(QueueUrl=q.url, WaitTimeSeconds=0)["Messages"]
        assert [m["Body"] for m in first] == ["x"]
        # Second receive exceeds maxReceiveCount=1: the message moves to the DLQ.
        assert sqs.receive_message(QueueUrl=q.url, WaitTimeSeconds=0).get("Messages") is None
        server.stop()
        server.start()
        moved = sqs.receive_message(QueueUrl=q.dlq_url, WaitTimeSeconds=0)["Messages"]
        assert [m["Body"] for m in moved] == ["x"]


def test_queues_default_to_what_a_stack_gets_when_it_sets_nothing():
    with moto_server() as server:
        sqs = server.client("sqs")
        q = create_queues(sqs, "defaults")
        attrs = sqs.get_queue_attributes(QueueUrl=q.url, AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=q.dlq_url, AttributeNames=["All"])["Attributes"]
    # 6 x the 30 s default function timeout; 4 days; 5 receives; long polling at SQS's 20 s.
    assert attrs["VisibilityTimeout"] == "180"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": q.dlq_arn,
        "maxReceiveCount": 5,
    }
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
