"""The Content-Security-Policy middleware, with one allowance for the DICOM viewer's pages.

The viewer decodes JPEG 2000 and JPEG-LS in a web worker (started from a blob: URL, so under the policy of
the page that starts it) with Emscripten codecs that fetch their WebAssembly from data: URLs and build
functions with `new Function` at start-up (embind), which CSP counts as 'unsafe-eval'. So the pages that show
the viewer, and only those, get 'unsafe-eval' in script-src and data: in connect-src; every other page keeps
settings.CONTENT_SECURITY_POLICY as it is. (Checked in headless Chromium with pydicom's
MR_small_jp2klossless.dcm and MR_small_jpeg_ls_lossless.dcm: both fail to decode without these two.)
"""
from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware, PolicyParts

# URL names of the pages built on frontend/viewer_page.html (case_read.html and adjudication.html).
VIEWER_PAGES = frozenset({"case-read", "adjudication", "study-session-read"})


class SpineReadCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name in VIEWER_PAGES:
            update = dict(parts.update or {})
            update["script-src"] = [*update.get("script-src", []), UNSAFE_EVAL]
            update["connect-src"] = [*update.get("connect-src", []), "data:"]
            parts.update = update
        return parts
