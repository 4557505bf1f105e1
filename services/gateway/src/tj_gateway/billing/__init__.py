"""Billing at the edge: plans, subscribing through Razorpay, payments, invoices, and Razorpay webhooks."""
