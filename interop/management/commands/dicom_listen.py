import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from annotation.management.options import project_named
from interop.dimse import listener_start


class Command(BaseCommand):
    help = ("Receive DICOM from a PACS or modality (a Storage SCP: C-ECHO, C-STORE of MR, enhanced MR and CT) into "
            "a project, through the same de-identifying ingest as an upload; each study is pre-annotated once it "
            "has stopped arriving.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--ae-title", default="SPINEREAD", help="our (called) AE title; others are refused")
        parser.add_argument("--project", required=True, help="project slug the studies are stored into")
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
        parser.add_argument("--quiet-seconds", type=float, default=30.0,
                            help="a study is complete after this long without a new instance (default 30)")

    def handle(self, *args, port, ae_title, project, bind, quiet_seconds, **options):
        if not 0 < len(ae_title.strip()) <= 16 or "\\" in ae_title:
            raise CommandError("--ae-title must be 1 to 16 characters, without a backslash")
        if quiet_seconds <= 0:
            raise CommandError("--quiet-seconds must be positive")
        target = project_named(project)
        try:
            listener = listener_start(project=target, port=port, ae_title=ae_title.strip(), bind=bind,
                                      quiet_seconds=quiet_seconds)
        except OSError as error:
            raise CommandError(f"cannot listen on {bind}:{port}: {error}")
        self.stdout.write(f"listening as {ae_title.strip()} on {bind}:{listener.port} for project {target.slug}; "
                          f"studies complete after {quiet_seconds:g} s quiet")
        stopped = threading.Event()
        # SIGTERM (docker stop) ends it like Ctrl+C: pending studies are still pre-annotated.
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        listener.stop()
        self.stdout.write("stopped")
