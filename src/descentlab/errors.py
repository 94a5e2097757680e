"""User-facing errors.

Every error a user can cause derives from :class:`UserError` and carries a one-line message that names the bad
value and what is allowed. The CLI prints that line and exits with code 2 instead of a traceback.
``UserError`` is a ``ValueError`` so that code written against ``torch.optim`` (which raises ``ValueError`` for
bad hyperparameters) keeps working.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from a user: the message is one line and says what is allowed."""


class DataNotFoundError(UserError):
    """A dataset is not on disk and could not be downloaded; the message says where we looked."""


class DownloadError(UserError):
    """A download failed (network, size or checksum); nothing broken is left in the cache."""
