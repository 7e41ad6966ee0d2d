"""leadbridge: CRM integrations for lead apps, on AWS serverless."""

__version__ = "0.1.0"
