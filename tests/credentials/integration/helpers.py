"""Helpers of the Connection API Credentials tests."""

GOOD_SECRET = "Sup3r-Long_client.secret~0123456789abcXYZ"
