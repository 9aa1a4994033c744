"""What every shape shares: Floe's checks as validators, the name and path types, request
bodies that refuse unknown fields, query strings, the error body and what a delete answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from floe.core.errors import FloeUserError
from floe.core.refs import (
    MAX_SIZE,
    NAME_PATTERN,
    OWNER_PATTERN,
    ProjectRef,
    check_name,
    check_owner,
)
from floe.core.times import rfc3339, utc
from floe.trees.tree import PATH_MAX_CHARS, PATH_PATTERN, check_path, check_sha256


def checked(check: Any) -> AfterValidator:
    """A Floe check as a pydantic validator: its message, as written, becomes the error."""

    def run(value: Any) -> Any:
        try:
            check(value)
        except FloeUserError as err:
            raise PydanticCustomError("floe", err.message) from None
        return value

    return AfterValidator(run)


Name = Annotated[
    str, Field(json_schema_extra={"pattern": f"^{NAME_PATTERN}$"}), checked(check_name)
]


def check_project(text: object) -> str:
    """A project as a job names it: ``cats``, or a team's ``ml-lab/cats``."""
    ProjectRef.parse(text)
    return text


# A project of the caller's (``cats``) or of a team of theirs (``ml-lab/cats``).
ProjectName = Annotated[
    str,
    Field(json_schema_extra={"pattern": f"^(?:{OWNER_PATTERN}/)?{NAME_PATTERN}$"}),
    checked(check_project),
]


def check_owned_name(text: object) -> str:
    """``nlp``, or a team's ``ml-lab/nlp``: a name, maybe under an owner."""
    if isinstance(text, str) and "/" in text:
        owner, name = text.split("/", 1)
        check_owner(owner, owner)
        check_name(name)
    else:
        check_name(text)
    return text


# A new thing's name: the caller's (``nlp``) or a team's of theirs (``ml-lab/nlp``).
OwnedName = Annotated[
    str,
    Field(json_schema_extra={"pattern": f"^(?:{OWNER_PATTERN}/)?{NAME_PATTERN}$"}),
    checked(check_owned_name),
]
# The user or team a new thing belongs to (left out: the caller).
Owner = Annotated[
    str,
    Field(json_schema_extra={"pattern": f"^{OWNER_PATTERN}$"}),
    checked(lambda text: check_owner(text, text)),
]


def _whole(value: Any) -> Any:
    # JSON has one kind of number: 3.0 is the whole number 3, as JSON Schema's "integer" says.
    return int(value) if type(value) is float and value.is_integer() else value


# After its bounds, an int's: a whole number in a request body is 3 or 3.0, never "3" or true.
# (Before the bounds, pydantic would no longer write them as JSON Schema's minimum, maximum.)
WHOLE = BeforeValidator(_whole)
Count = Annotated[int, Field(ge=0, le=MAX_SIZE), WHOLE]
Sha256 = Annotated[
    str, Field(json_schema_extra={"pattern": "^[0-9a-f]{64}$"}), checked(check_sha256)
]
# A time in an answer: read from a stored time or its text (any zone; none is UTC), written
# as RFC 3339 in UTC ('2026-12-07T09:58:35.526976Z') by the one function that writes them.
Timestamp = Annotated[
    datetime,
    AfterValidator(utc),
    PlainSerializer(rfc3339, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
FilePath = Annotated[
    str,
    Field(
        description="relative POSIX path, no '..' (at most 4096 bytes, a name at most 255)",
        json_schema_extra={"pattern": f"^(?:{PATH_PATTERN})$", "maxLength": PATH_MAX_CHARS},
    ),
    checked(check_path),
]


class Request(BaseModel):
    """A request body: unknown fields are refused, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Error(BaseModel):
    error: str = Field(description="what was wrong, and what would be right")
    field: str | None = Field(None, description="the request field the error is about")
    missing: list[str] | None = Field(None, description="blobs to upload before retrying")


# A query flag: ?follow=1, ?follow=true; given empty (?download=) it is off.
Flag = Annotated[bool, BeforeValidator(lambda value: value or False)]


class Query(BaseModel):
    """A query string: unknown arguments are ignored, text is read as the declared type."""

    model_config = ConfigDict(extra="ignore")


class Deleted(BaseModel):
    deleted: str = Field(description="what was deleted: a job, a dataset or a version")
    versions: list[int] | None = Field(None, description="a dataset's versions deleted")
    freed_bytes: int = Field(
        description="bytes removed from the store at once; blobs stored in the last hour "
        "go with the next collection"
    )
