"""Notifications: who is told what, through which channel (see workbench.outbox for delivery)."""
