"""A model field that stores Fernet ciphertext and hands out plaintext, lazily.

Loading a row does not decrypt anything: the column's ciphertext is kept on the
instance and decrypted the first time the attribute is read (the middleware's
"no decryption unless a view touches the token" rests on this). Saving a value
that was never read writes the same ciphertext back, untouched.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from . import crypto
from .errors import EncryptionKeyError


class Ciphertext(str):
    """Marks a value as it came from the database: ciphertext, not plaintext."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<Ciphertext>"


class UndecryptableCiphertext(Ciphertext):
    """Ciphertext from outside the database (a fixture) that no configured key decrypts.

    Kept as it came, never encrypted again as if it were a token: saving it raises
    :class:`~django_euler_oauth.errors.EncryptionKeyError` naming model, field and pk.
    """

    __slots__ = ()


def _what(field: models.Field[Any, Any], instance: Any) -> str:
    model = type(instance).__name__
    return f"{model}.{field.name} of {model} pk={instance.pk}"


class EncryptedAttribute(DeferredAttribute):
    """Data descriptor: decrypts on first read, caches the plaintext on the instance."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        data = instance.__dict__
        attname = self.field.attname
        if attname not in data:
            # Deferred column: let DeferredAttribute load it (it stores a Ciphertext).
            super().__get__(instance, cls)
        value = data.get(attname)
        if isinstance(value, Ciphertext):
            value = crypto.decrypt(str(value), what=_what(self.field, instance)) \
                if value else ""
            data[attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """Text stored encrypted with the site's ``EULER_OAUTH_ENCRYPTION_KEYS``.

    The empty string is stored as the empty string (there is nothing to hide in
    "no token"); every other value is Fernet ciphertext. Lookups other than
    ``isnull``/``exact ''`` make no sense on ciphertext and should not be used.
    """

    descriptor_class = EncryptedAttribute

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return value
        return Ciphertext(value)

    def to_python(self, value: Any) -> Any:
        # Serialized rows (loaddata) carry ciphertext: keep it as such rather than
        # encrypting it a second time as if it were a token. Ciphertext no key of ours
        # decrypts is marked, and refused when saved (pre_save knows model and pk).
        if (isinstance(value, str) and not isinstance(value, Ciphertext)
                and value.startswith("gAAAAA")):
            try:
                crypto.decrypt(value)
            except ImproperlyConfigured:
                return UndecryptableCiphertext(value)
            return Ciphertext(value)
        return value

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        # What the instance holds, without the descriptor: a value never read is
        # written back as the same ciphertext, with no decryption (and no key) needed.
        if self.attname in model_instance.__dict__:
            value = model_instance.__dict__[self.attname]
        else:
            value = super().pre_save(model_instance, add)
        if isinstance(value, UndecryptableCiphertext):
            raise EncryptionKeyError(
                f"Cannot store {_what(self, model_instance)}: no key in "
                "EULER_OAUTH_ENCRYPTION_KEYS decrypts the ciphertext given for it (a fixture "
                "made with another key?). Add that key (after the current one), then load again."
            )
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return str(value)  # never decrypted: write the stored ciphertext back
        value = str(value)
        if value == "":
            return ""
        return crypto.encrypt(value)

    def value_to_string(self, obj: Any) -> str:
        # Serialization (dumpdata) must not write plaintext: keep the ciphertext.
        raw = obj.__dict__.get(self.attname)
        if isinstance(raw, Ciphertext):
            return str(raw)
        return self.get_prep_value(raw) or ""

    def deconstruct(self) -> tuple[Any, ...]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django_euler_oauth.fields.EncryptedTextField", args, kwargs
