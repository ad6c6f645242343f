"""The HTTP service that runs on EKS and feeds the SQS queue (see docs/app.md)."""
