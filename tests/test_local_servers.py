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
