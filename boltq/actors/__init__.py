"""The actors of a supervisor process; each is a long-lived trio task."""
