"""Reads policy YAML into plain Python values, remembering the line of every key and value."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from guard.policy.errors import KeyPath, PolicyError, PolicyIssue, format_key_path

_TAG = "tag:yaml.org,2002:"
STR_TAG, INT_TAG, FLOAT_TAG = f"{_TAG}str", f"{_TAG}int", f"{_TAG}float"
BOOL_TAG, NULL_TAG, TIMESTAMP_TAG = f"{_TAG}bool", f"{_TAG}null", f"{_TAG}timestamp"
MERGE_TAG = f"{_TAG}merge"
SEQUENCE_TAG, MAPPING_TAG = f"{_TAG}seq", f"{_TAG}map"

# Aliases let a few lines expand into billions of values ("billion laughs"); a policy is read
# from any repository that installs the app, so the expansion is bounded.
MAX_VALUES = 100_000

YAML_ERROR = "not valid YAML: {problem}"
YAML_ERROR_CONTEXT = "not valid YAML: {problem} ({context} on line {line})"
DUPLICATE_KEY = "is given twice (lines {first} and {second}); keep one"
KEY_NOT_TEXT = "a key must be text, not a list or a mapping"
MERGE_NOT_MAPPING = "<< can only merge mappings (<<: *anchor of a mapping)"
UNSUPPORTED_TAG = "the YAML tag {tag} is not supported here"
SELF_REFERENCE = "refers to itself through an alias"
UNREADABLE_CHARACTER = "{reason} (U+{code:04X})"
TAB_INDENTATION = "a tab cannot indent YAML: indent with spaces"
INDENTATION_HINT = "; check the indentation"
# PyYAML names parser tokens; these are the ones its common messages mention.
_TOKEN_WORDS = {
    "<block end>": "the end of the indented block",
    "<block mapping start>": "a new mapping",
    "<block sequence start>": "a new list",
    "'<block mapping start>'": "a new mapping",
    "'?'": "a key",
    "'-'": "a list item",
    "'<scalar>'": "a value",
    "<scalar>": "a value",
    "'<stream end>'": "the end of the file",
    "end of stream": "end of the file",
}
_INDENTATION_WORDS = ("<block end>", "block collection", "block mapping")
ONE_DOCUMENT = "a policy is one YAML document; this is a second one (after ---)"
_SECOND_DOCUMENT = "but found another document"
TOO_MANY_VALUES = (
    "the policy expands to more than {limit} values (through aliases); it is too large to read"
)


@dataclass(frozen=True)
class Location:
    """Where one key and its value are written (1-based lines)."""

    # The key's line for a mapping entry, the item's line for a list item.
    key_line: int
    value_line: int
    is_collection: bool


@dataclass
class SourceDocument:
    """The document's plain value, the line of every key path in it, and structural problems."""

    value: object
    locations: dict[KeyPath, Location]
    issues: list[PolicyIssue] = field(default_factory=list)


class _TooManyValuesError(Exception):
    pass


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _shown_tag(tag: str) -> str:
    """A tag as it was written: !!binary rather than tag:yaml.org,2002:binary."""
    return tag.replace(_TAG, "!!", 1)


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, one node at a time."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.locations: dict[KeyPath, Location] = {}
        self.issues: list[PolicyIssue] = []
        self._constructor = SafeConstructor()
        self._count = 0
        # Node ids on the current branch: an alias back to one of them would never end.
        self._open: set[int] = set()

    def issue(self, path: KeyPath, line: int, message: str) -> None:
        self.issues.append(PolicyIssue(self.filename, line, format_key_path(path), message))

    def build(self, node: Node, path: KeyPath, key_line: int) -> object:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooManyValuesError
        is_collection = not isinstance(node, ScalarNode)
        self.locations[path] = Location(key_line, _line(node), is_collection)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if node.tag not in (SEQUENCE_TAG, MAPPING_TAG):
            self.issue(path, _line(node), UNSUPPORTED_TAG.format(tag=_shown_tag(node.tag)))
        if id(node) in self._open:
            self.issue(path, key_line, SELF_REFERENCE)
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [
                    self.build(item, (*path, i), _line(item)) for i, item in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode, path: KeyPath) -> object:
        if node.tag in (INT_TAG, FLOAT_TAG) and ":" in node.value:
            # YAML 1.1 reads 16:00 as the base-60 number 960; nobody writing a policy means that.
            return node.value
        if node.tag == TIMESTAMP_TAG:
            # No policy key takes a date object; keep the text as written.
            return node.value
        if node.tag in (STR_TAG, INT_TAG, FLOAT_TAG, BOOL_TAG, NULL_TAG):
            return self._constructor.construct_object(node)
        self.issue(path, _line(node), UNSUPPORTED_TAG.format(tag=_shown_tag(node.tag)))
        return node.value

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, object]:
        result: dict[str, object] = {}
        first_lines: dict[str, int] = {}
        for key_node, value_node, explicit in self._pairs(node, path):
            if not isinstance(key_node, ScalarNode):
                self.issue(path, _line(key_node), KEY_NOT_TEXT)
                continue
            # The key as written: `on:` stays "on" rather than YAML 1.1's True.
            key = key_node.value
            line = _line(key_node)
            if key in first_lines:
                if explicit:
                    second = DUPLICATE_KEY.format(first=first_lines[key], second=line)
                    self.issue((*path, key), line, second)
                # A merged key is overridden by the mapping's own key, as YAML merge intends.
                continue
            first_lines[key] = line
            result[key] = self.build(value_node, (*path, key), line)
        return result

    def _pairs(self, node: MappingNode, path: KeyPath) -> list[tuple[Node, Node, bool]]:
        """The mapping's own pairs first, then those merged in with `<<`, earlier merges first."""
        own: list[tuple[Node, Node, bool]] = []
        merged: list[tuple[Node, Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE_TAG:
                own.append((key_node, value_node, True))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.issue(path, _line(key_node), MERGE_NOT_MAPPING)
                elif id(source) in self._open:
                    self.issue(path, _line(key_node), SELF_REFERENCE)
                else:
                    self._open.add(id(source))
                    try:
                        merged.extend((k, v, False) for k, v, _ in self._pairs(source, path))
                    finally:
                        self._open.discard(id(source))
        return own + merged


def _plain_problem(problem: str, context: str) -> str:
    """PyYAML's problem in words a policy author knows, with a hint where one helps."""
    if "'\\t'" in problem:
        return TAB_INDENTATION
    if problem == _SECOND_DOCUMENT:
        return ONE_DOCUMENT
    worded = problem
    for token, words in _TOKEN_WORDS.items():
        worded = worded.replace(token, words)
    if any(word in problem or word in context for word in _INDENTATION_WORDS):
        return worded + INDENTATION_HINT
    return worded


def _syntax_issue(error: yaml.YAMLError, text: str, filename: str) -> PolicyIssue:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        line = error.problem_mark.line + 1
        problem = _plain_problem(error.problem or "unexpected content", error.context or "")
        context_mark = error.context_mark
        shown_context = error.context and problem != ONE_DOCUMENT
        if shown_context and context_mark is not None and context_mark.line + 1 != line:
            message = YAML_ERROR_CONTEXT.format(
                problem=problem, context=error.context, line=context_mark.line + 1
            )
        else:
            message = YAML_ERROR.format(problem=problem)
        return PolicyIssue(filename, line, "", message)
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        problem = UNREADABLE_CHARACTER.format(reason=error.reason, code=error.character)
        return PolicyIssue(filename, line, "", YAML_ERROR.format(problem=problem))
    return PolicyIssue(filename, 1, "", YAML_ERROR.format(problem=str(error)))


def read_yaml(text: str, filename: str) -> SourceDocument:
    """Parse `text` as one YAML document; raise PolicyError when it is not valid YAML."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise PolicyError([_syntax_issue(error, text, filename)]) from None
    if root is None:
        return SourceDocument(None, {(): Location(1, 1, is_collection=False)})
    builder = _Builder(filename)
    try:
        value = builder.build(root, (), _line(root))
    except _TooManyValuesError:
        message = TOO_MANY_VALUES.format(limit=MAX_VALUES)
        raise PolicyError([PolicyIssue(filename, 1, "", message)]) from None
    return SourceDocument(value, builder.locations, builder.issues)
