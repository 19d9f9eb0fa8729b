"""nbval settings for the book's notebooks (loaded by pytest when it collects ``book/``).

nbval already skips ``image/png``; figures glued with myst-nb are stored under their own MIME type
(``application/papermill.record/image/png``), a long base64 string that is neither meaningful to compare
nor cheap to run the sanitising regexes over. Skip those, and the other binary glue records, too.
"""
import nbval.plugin

GLUED_BINARY = (
    "application/papermill.record/image/png",
    "application/papermill.record/image/jpeg",
    "application/papermill.record/image/svg+xml",
    "image/svg+xml",
)

_init = nbval.plugin.IPyNbFile.__init__


def _init_skipping_glued_images(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.skip_compare = tuple(self.skip_compare) + GLUED_BINARY


nbval.plugin.IPyNbFile.__init__ = _init_skipping_glued_images
