"""The local Razorpay stand-in, its webhook payloads and the lifecycle simulator."""
