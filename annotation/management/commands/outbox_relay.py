"""`manage.py outbox_relay [--loop] [--every SECONDS]`: publishes the tasks the broker refused while it was down.

Beat runs the same relay every 30 s (annotation.outbox_relay); this command is for an install without beat, or
to flush the outbox at once after an outage.
"""
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from annotation.outbox import outbox_prune, outbox_relay


class Command(BaseCommand):
    help = "Publishes unsent outbox rows (tasks recorded while the broker was down), oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep relaying until stopped")
        parser.add_argument("--every", type=float, default=30.0, help="seconds between rounds with --loop")

    def handle(self, *args, loop: bool, every: float, **options):
        while True:
            sent, pruned = outbox_relay(), outbox_prune()
            self.stdout.write(f"outbox: {sent} sent, {pruned} old rows pruned")
            if not loop:
                return
            time.sleep(every)
            close_old_connections()  # a long --loop outlives a database restart: reconnect as a request would
