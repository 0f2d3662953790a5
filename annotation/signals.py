"""What annotation tells the apps built on it, without importing them."""
from django.dispatch import Signal

# Sent inside the copy's transaction with `source`, `project` and `actor`: an app that keeps per-project
# settings of its own (mlbackend's model config) copies them too.
project_copied = Signal()
