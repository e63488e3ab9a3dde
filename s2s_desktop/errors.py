"""Exceptions the engine raises on bad input; their messages are written for users.

Every message names the thing that is wrong (file, line, field) and, where it can, what to do.
The CLI prints them as one line and exits with status 2; the GUI shows them in one place.
"""


class S2SError(Exception):
    """Base of every error caused by user input or the user's environment."""


class ConfigError(S2SError):
    """An option or setting is out of range or inconsistent."""


class CorpusError(S2SError):
    """A training or evaluation corpus cannot be read (the message names file and line)."""


class TokenizerError(S2SError):
    """A SentencePiece model cannot be trained or loaded."""


class CheckpointError(S2SError):
    """A model file or run folder is missing, corrupt, foreign or from a newer version."""


class ModelError(S2SError):
    """A model loaded but cannot be used: its scores are not finite numbers (corrupt or overflowing weights)."""


class TrainingError(S2SError):
    """Training cannot continue (NaN loss, unwritable run folder, full disk...)."""


class InputError(S2SError):
    """Text or a file given for translation cannot be used."""


class PeerFailure(TrainingError):
    """Another process of a distributed training run failed or was lost; rank 0 reports it."""


class MarianImportError(S2SError):
    """A Hugging Face Marian (OPUS-MT) folder cannot be imported: the message names the file and field."""


class ExportError(S2SError):
    """A model cannot be exported to another engine's format (CTranslate2, Argos Translate): the message says why."""
