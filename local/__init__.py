"""Local stand-ins for the AWS data path (SQS, DynamoDB, Lambda's poller), loopback only."""
