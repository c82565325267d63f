"""The webhook service: a Flask app (`create_app`) that verifies, records and queues deliveries."""
