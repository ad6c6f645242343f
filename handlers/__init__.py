"""The Lambda consumer of the event queue. Entry point: `handlers.consumer.handler`."""
