"""The names users write, parsed and written back in one place for all of Floe.

===========  ===============================  =============================================
what         Floe                             FloydHub's spelling, also understood
===========  ===============================  =============================================
dataset      ``[owner/]name[:N]``             ``owner/datasets/name[/N]``
environment  a catalog slug (``datascience``)
             or ``[owner/]name[:N]``
project      ``[owner/]name``                 ``owner/projects/name``
job          ``owner/project/N``,             ``owner/projects/project/N``
             ``project/N`` or its id ``N``
output       ``[owner/]project/N/output``     ``owner/projects/project/N/output``
mount        ``SOURCE[:/mount/point]``        ``SOURCE:word`` (``:input`` is ``/input``)
===========  ===============================  =============================================

``owner`` left out means the caller. The service, the spawner, the runner, the command line
and the workspace extension all parse with these functions, so a name means the same
everywhere; every parser raises :class:`BadName` (or :class:`BadMount`) with an example of
what would be right.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from .errors import BadMount, BadName

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,99}"
# Hub usernames are more varied than dataset names; this covers what JupyterHub allows here.
# No '/', ':', control character (PostgreSQL's text holds no NUL) or white space: Python's
# (str.isspace) spelt out, so that a JSON Schema reader, whose \s is ECMAScript's, reads the
# same set.
SPACE_CHARS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROL_CHARS = r"\x00-\x1f\x7f"
OWNER_PATTERN = rf"[^/:{CONTROL_CHARS}{SPACE_CHARS}]{{1,255}}"
# Ids and numbers are INTEGER columns, 32 bits on PostgreSQL: a larger one names nothing, and
# is refused before the database is asked (which would fail). Byte counts and offsets are wider.
MAX_NUMBER = 2**31 - 1
MAX_SIZE = 2**63 - 1
# The names above as documents state them (the OpenAPI one), whole strings: what the parsers
# take, numbers written plainly (1 to 9 digits, no leading zero; the parsers take 10 up to
# MAX_NUMBER too).
NUMBER_PATTERN = r"[1-9][0-9]{0,8}"
PROJECT_PATTERN = rf"(?:{OWNER_PATTERN}/(?:projects/)?)?{NAME_PATTERN}"
JOB_PATTERN = rf"{NUMBER_PATTERN}|{PROJECT_PATTERN}/{NUMBER_PATTERN}"
TASK_PATTERN = rf"{NUMBER_PATTERN}|(?:{OWNER_PATTERN}/)?{NAME_PATTERN}/task/{NUMBER_PATTERN}"
# Whole strings only (fullmatch): "$" would let a name end in a newline.
_NAME = re.compile(NAME_PATTERN)
_OWNER = re.compile(OWNER_PATTERN)
_NUMBER = re.compile(r"[0-9]{1,19}")
_MOUNT_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# What a version looks like after ':' (a mount word never does): 2, v2, 00012345678901234567890.
_VERSION_LIKE = re.compile(r"[vV]?[0-9]+")

DATASET_EXAMPLES = "'mnist', 'mnist:2', 'alice/mnist:2' or 'alice/datasets/mnist/2'"
ENVIRONMENT_EXAMPLES = "'datascience', 'nlp', 'nlp:2' or 'alice/nlp:2'"
JOB_EXAMPLES = "'alice/cats/3', 'cats/3', its id '42' or 'alice/projects/cats/3'"
TASK_EXAMPLES = "'alice/cats/task/2', 'cats/task/2' or its id '7'"
MOUNT_EXAMPLES = (
    "'mnist', 'mnist:2:/input/digits', 'alice/cats/3/output:/input/prev' or 'mnist:input'"
)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadName(f"a {what} is a non-empty string")
    return value


def check_name(name: object, what: str = "dataset name") -> str:
    """A dataset or project name: lowercase letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadName(
            f"{what} {name!r} must be 1-100 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, e.g. 'mnist' or 'cats-2024'"
        )
    return name


def check_project_name(name: object) -> str:
    return check_name(name, "project")


def check_owner(owner: str, text: str) -> str:
    if not _OWNER.fullmatch(owner):
        raise BadName(f"{text!r}: {owner!r} is not a user name")
    return owner


def parse_number(text: object, what: str = "number", minimum: int = 1) -> int:
    """A whole number as users write it in names and URLs (``3``), at most ``MAX_NUMBER``."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text) or int(text) > MAX_NUMBER:
        raise BadName(f"{what} {text!r} must be a number from {minimum} up, like 3")
    number = int(text)
    if number < minimum:
        raise BadName(f"{what} {text!r} must be a number from {minimum} up, like 3")
    return number


def is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))


@dataclass(frozen=True)
class DatasetRef:
    """``[owner/]name[:version]``; ``version`` None means the latest, ``owner`` None the caller."""

    owner: str | None
    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> DatasetRef:
        text = _text(text, "dataset")
        parts = text.split("/")
        if len(parts) in (3, 4) and parts[1] == "datasets":  # FloydHub: owner/datasets/name[/N]
            version = parse_number(parts[3], f"{text!r}: the version") if len(parts) == 4 else None
            owner = check_owner(parts[0], text)
            return cls(owner, check_name(parts[2]), version)
        return cls(*_owner_name_version(text, default_owner, "dataset", DATASET_EXAMPLES))

    def owned(self, owner: str) -> DatasetRef:
        """This reference with ``owner`` filled in where it was left out."""
        return self if self.owner else DatasetRef(owner, self.name, self.version)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}" if self.owner else self.name

    def __str__(self) -> str:
        return self.full_name + (f":{self.version}" if self.version else "")


def _owner_name_version(
    text: str, default_owner: str | None, what: str, examples: str
) -> tuple[str | None, str, int | None]:
    """``[owner/]name[:N]``, the shape datasets and environments share."""
    name_part, colon, version_part = text.partition(":")
    owner, slash, name = name_part.rpartition("/")
    if text.count("/") > 1 or (slash and not owner):
        raise BadName(f"{text!r} is not a {what}; name one like {examples}")
    version = None
    if colon:
        version = parse_number(version_part, f"{text!r}: the version after ':'")
    owner = check_owner(owner, text) if slash else default_owner
    return owner, check_name(name, f"{what} name"), version


@dataclass(frozen=True)
class EnvironmentRef:
    """An environment people made: ``[owner/]name[:version]`` (``alice/nlp:2``); ``version``
    None means the latest that was built, ``owner`` None the caller. A name alone may also be
    one of the deployer's catalog environments (``datascience``): those are looked for first."""

    owner: str | None
    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> EnvironmentRef:
        text = _text(text, "environment")
        return cls(*_owner_name_version(text, default_owner, "environment", ENVIRONMENT_EXAMPLES))

    def __str__(self) -> str:
        head = f"{self.owner}/" if self.owner else ""
        return head + self.name + (f":{self.version}" if self.version else "")


@dataclass(frozen=True)
class ProjectRef:
    """``[owner/]name`` of a project."""

    owner: str | None
    name: str

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> ProjectRef:
        text = _text(text, "project")
        parts = text.split("/")
        if len(parts) == 3 and parts[1] == "projects":
            parts = [parts[0], parts[2]]
        if len(parts) == 1:
            return cls(default_owner, check_project_name(parts[0]))
        if len(parts) != 2:
            raise BadName(f"{text!r} is not a project; name one like 'cats' or 'alice/cats'")
        return cls(check_owner(parts[0], text), check_project_name(parts[1]))

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}" if self.owner else self.name


@dataclass(frozen=True)
class JobRef:
    """A job: by ``id``, or by ``number`` within ``project`` (``owner`` None: the caller's)."""

    id: int | None = None
    owner: str | None = None
    project: str | None = None
    number: int | None = None

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> JobRef:
        text = _text(text, "job")
        if text.isascii() and text.isdigit():
            return cls(id=parse_number(text, "a job id"))
        parts = text.split("/")
        if len(parts) == 4 and parts[1] == "projects":  # FloydHub: owner/projects/project/N
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) not in (2, 3) or not is_number(parts[-1]):
            raise BadName(f"{text!r} is not a job; name one like {JOB_EXAMPLES}")
        owner = check_owner(parts[0], text) if len(parts) == 3 else default_owner
        project = check_project_name(parts[-2])
        return cls(owner=owner, project=project, number=parse_number(parts[-1], "a job number"))

    @classmethod
    def in_project(cls, text: str, project: str | None) -> JobRef:
        """What the command line takes: a bare number is a job of this folder's project."""
        if project and is_number(text):
            return cls(project=check_project_name(project), number=parse_number(text))
        return cls.parse(text)

    def __str__(self) -> str:
        if self.id is not None:
            return str(self.id)
        head = f"{self.owner}/" if self.owner else ""
        return f"{head}{self.project}/{self.number}"


@dataclass(frozen=True)
class TaskRef:
    """A task (a sweep of jobs): by ``id``, or ``[owner/]project/task/N``."""

    id: int | None = None
    owner: str | None = None
    project: str | None = None
    number: int | None = None

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> TaskRef:
        text = _text(text, "task")
        if text.isascii() and text.isdigit():
            return cls(id=parse_number(text, "a task id"))
        parts = text.split("/")
        if len(parts) not in (3, 4) or parts[-2] != "task" or not is_number(parts[-1]):
            raise BadName(f"{text!r} is not a task; name one like {TASK_EXAMPLES}")
        owner = check_owner(parts[0], text) if len(parts) == 4 else default_owner
        project = check_project_name(parts[-3])
        return cls(owner=owner, project=project, number=parse_number(parts[-1], "a task number"))

    def __str__(self) -> str:
        if self.id is not None:
            return str(self.id)
        head = f"{self.owner}/" if self.owner else ""
        return f"{head}{self.project}/task/{self.number}"


@dataclass(frozen=True)
class OutputRef:
    """``[owner/]project/N/output``: what job N of a project left in /output."""

    owner: str | None
    project: str
    number: int

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> OutputRef:
        text = _text(text, "job output")
        head, slash, last = text.rpartition("/")
        if not slash or last != "output":
            raise BadName(f"{text!r} is not a job's output; name one like 'alice/cats/3/output'")
        job = JobRef.parse(head, default_owner)
        if job.id is not None:
            raise BadName(f"{text!r}: name the job's output by project, like 'cats/3/output'")
        return cls(job.owner, job.project, job.number)

    @property
    def job(self) -> JobRef:
        return JobRef(owner=self.owner, project=self.project, number=self.number)

    def __str__(self) -> str:
        return f"{self.job}/output"


@dataclass(frozen=True)
class MountSpec:
    """``SOURCE[:MOUNT]``: a dataset or a job's output and where it appears (read-only).

    MOUNT is an absolute path (``/input/digits``) or, as FloydHub users write it, a bare word:
    a word naming an allowed root (``input``) means that root itself, any other word a folder
    of the first root (``digits`` is ``/input/digits``). Left out: ``/input/<dataset name>``,
    or ``/input/<project>-<N>`` for an output.
    """

    text: str
    source: DatasetRef | OutputRef
    mount: str | None = None

    @classmethod
    def parse(cls, text: object, default_owner: str | None = None) -> MountSpec:
        if not isinstance(text, str) or not text.strip():
            raise BadName(f"each dataset is a string like {MOUNT_EXAMPLES}")
        source_text, mount = text, None
        if ":/" in text:
            source_text, _, rest = text.partition(":/")
            mount = "/" + rest
        else:
            head, colon, last = text.rpartition(":")
            # A version-like word (2, v2) is a version, right or wrong; never a mount folder.
            if colon and not _VERSION_LIKE.fullmatch(last):
                if not _MOUNT_WORD.fullmatch(last):
                    raise BadMount(
                        f"{text!r}: the mount point {last!r} must be a word like 'input' or "
                        "an absolute path like /input/data"
                    )
                source_text, mount = head, last
        return cls(text, _source(source_text, default_owner), mount)

    def default_folder(self) -> str:
        if isinstance(self.source, OutputRef):
            return f"{self.source.project}-{self.source.number}"
        return self.source.name

    def target(self, roots: list[str]) -> str:
        """Where it is mounted, checked against the allowed ``roots``."""
        first = roots[0].rstrip("/")
        if self.mount is None:
            return check_mount_point(f"{first}/{self.default_folder()}", roots)
        if self.mount.startswith("/"):
            return check_mount_point(self.mount, roots)
        word = "/" + self.mount
        return check_mount_point(word if word in roots else f"{first}/{self.mount}", roots)


def _source(text: str, default_owner: str | None) -> DatasetRef | OutputRef:
    """A job's output (``…/N/output``) or else a dataset (one may be named ``output``)."""
    if not text.endswith("/output"):
        return DatasetRef.parse(text, default_owner)
    try:
        return OutputRef.parse(text, default_owner)
    except BadName as as_output:
        try:
            return DatasetRef.parse(text, default_owner)
        except BadName:
            raise as_output from None


def check_mount_point(target: str, roots: list[str]) -> str:
    """``target`` if it is absolute, normalised and an allowed root or inside one."""
    if not target.startswith("/"):
        raise BadMount(f"mount point {target!r} must be an absolute path like /input/data")
    if posixpath.normpath(target) != target or "//" in target or not target.isprintable():
        raise BadMount(
            f"mount point {target!r} is not normalised; write it as {posixpath.normpath(target)!r}"
        )
    for root in roots:
        root = root.rstrip("/")
        if target == root or target.startswith(root + "/"):
            return target
    raise BadMount(
        f"mount point {target!r} must be inside {' or '.join(roots)}, e.g. {roots[0]}/data"
    )


def check_mount_targets(targets: list[str]) -> None:
    """No two mounts at one place, none inside another (``/input`` itself is then alone)."""
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            if a == b:
                raise BadMount(f"two datasets are mounted at {a}; give one another mount point")
            inner, outer = (a, b) if len(a) > len(b) else (b, a)
            if inner.startswith(outer + "/"):
                raise BadMount(f"{inner} is inside {outer}, where another dataset is mounted")
