"""Hubs (branded member destinations), their policies and sender settings, and hub memberships."""
