"""Cross-service tests and the test harness."""
