"""The command-line reference (``docs/cli.md``), generated from the click commands themselves.

:func:`cli_reference` walks the ``flashsim`` group (subgroups such as ``refsim`` included) and
renders, per command, its usage line, its help text and a table of its arguments and options
(names, type or choices, default, help). The text depends only on the commands: no terminal
width, no absolute path, no default computed from this machine (see :data:`MACHINE_DEFAULTS`).

Regenerate the committed file, or check that it is current (exit status 1 when it is stale)::

    python -m flashsim.cli.reference > docs/cli.md
    python -m flashsim.cli.reference --check docs/cli.md
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

__all__ = [
    "MACHINE_DEFAULTS",
    "REGENERATE",
    "cli_reference",
    "command_paths",
    "iter_commands",
    "main",
]

REGENERATE = "python -m flashsim.cli.reference > docs/cli.md"
"""The command that rewrites the committed reference."""

MACHINE_DEFAULTS: dict[tuple[str, str], str] = {
    ("flashsim validate", "jobs"): "min(2, CPU cores)",
}
"""Defaults computed from the machine when the command is imported, by (command path, parameter
name): the reference shows this description instead of the value (an option can also declare
``show_default="..."``, which is used as is)."""

_WORD = re.compile(r"\w")


def iter_commands(
    command: click.Command | None = None, parent: click.Context | None = None
) -> Iterator[click.Context]:
    """A context for ``command`` (default: the ``flashsim`` group) and for every command below
    it, depth first, subcommands in the order of ``flashsim --help``; hidden ones are skipped."""
    if command is None:
        from flashsim.cli.app import flashsim

        command = flashsim
    # With the command's context_settings, as click's own make_context: the help option names
    # (-h/--help) then match those of the help option click caches on the command when it is
    # invoked, so the output does not depend on what ran before in the process.
    ctx = click.Context(
        command,
        info_name=command.name or "flashsim",
        parent=parent,
        **command.context_settings,
    )
    yield ctx
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from iter_commands(sub, ctx)


def command_paths() -> list[str]:
    """Every command path of the ``flashsim`` command line: ``flashsim``, ``flashsim run``, ..."""
    return [ctx.command_path for ctx in iter_commands()]


def cli_reference() -> str:
    """The Markdown reference of every ``flashsim`` command (the text of ``docs/cli.md``)."""
    contexts = list(iter_commands())
    lines = [
        "# flashsim command-line reference",
        "",
        f"Generated from the command line itself by `{REGENERATE}`;",
        "do not edit it by hand. `python -m flashsim.cli.reference --check docs/cli.md` exits",
        "with status 1 when it is stale, and `tests/test_cli_reference.py` checks it.",
        "",
        "Every command also takes `-h`, `--help`. Errors a user can fix print one line",
        "`flashsim: error: ...` and exit with status 2; `flashsim --debug COMMAND ...` shows the",
        "traceback instead.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for ctx in contexts:
        path = ctx.command_path
        summary = _escape(_first_paragraph(_help_text(ctx.command)), table=True)
        lines.append(f"| [`{path}`](#{_anchor(path)}) | {summary} |")
    for ctx in contexts:
        lines += ["", *_render_command(ctx)[:-1]]  # without its final blank line
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_command(ctx: click.Context) -> list[str]:
    command = ctx.command
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"## {ctx.command_path}", "", "```", usage, "```", ""]
    help_text = _help_text(command)
    if help_text:
        lines += [_escape(help_text), ""]
    if command.deprecated:
        lines += ["*Deprecated.*", ""]
    if isinstance(command, click.Group):
        subs = _children(ctx)
        if subs:
            lines.append("Commands: " + ", ".join(f"[`{p}`](#{_anchor(p)})" for p in subs) + ".")
            lines.append("")
    params = [p for p in command.get_params(ctx) if not _is_help_option(ctx, p)]
    arguments = [p for p in params if isinstance(p, click.Argument)]
    options = [p for p in params if isinstance(p, click.Option) and not p.hidden]
    if arguments:
        lines += ["| argument | type | |", "|---|---|---|"]
        for arg in arguments:
            need = "required" if arg.required else "optional"
            if arg.nargs == -1:
                need += ", one or more" if arg.required else ", any number"
            lines.append(f"| `{arg.make_metavar(ctx)}` | {_type_text(arg)} | {need} |")
        lines.append("")
    if options:
        lines += ["| option | type | default | description |", "|---|---|---|---|"]
        for opt in options:
            cells = [
                _option_names(opt),
                _type_text(opt),
                _default_text(ctx, opt),
                _escape(" ".join((opt.help or "").split()), table=True),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if command.epilog:
        lines += [_escape(inspect.cleandoc(command.epilog)), ""]
    return lines


def _children(ctx: click.Context) -> list[str]:
    group = ctx.command
    assert isinstance(group, click.Group)
    paths = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            paths.append(f"{ctx.command_path} {name}")
    return paths


def _is_help_option(ctx: click.Context, param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and set(param.opts) <= set(ctx.help_option_names)


def _help_text(command: click.Command) -> str:
    """The command's help as click shows it: docstring dedented, cut at ``\\f``, ``\\b`` markers
    (click's "do not rewrap") dropped."""
    text = inspect.cleandoc(command.help or command.short_help or "")
    text = text.split("\f", 1)[0]
    kept = [line for line in text.splitlines() if line.strip() != "\b"]
    return "\n".join(kept).strip()


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n", 1)[0].split())


def _anchor(path: str) -> str:
    """The anchor GitHub gives the heading ``## <path>``."""
    return re.sub(r"[^\w\- ]", "", path.lower()).replace(" ", "-")


def _option_names(opt: click.Option) -> str:
    names = sorted(opt.opts, key=lambda o: (o.startswith("--"), o))
    text = ", ".join(f"`{n}`" for n in names)
    if opt.secondary_opts:
        text += " / " + ", ".join(f"`{n}`" for n in opt.secondary_opts)
    if opt.metavar and not opt.is_flag:
        text = text[:-1] + f" {opt.metavar}`"
    return text


def _type_text(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(param, click.Option) and param.is_flag:
        text = "flag"
    elif isinstance(kind, click.Choice):
        text = "one of " + ", ".join(f"`{c}`" for c in kind.choices)
    elif isinstance(kind, (click.IntRange, click.FloatRange)):
        text = ("integer" if isinstance(kind, click.IntRange) else "number") + _range_text(kind)
    elif isinstance(kind, click.Path):
        text = "file" if not kind.dir_okay else "directory" if not kind.file_okay else "path"
    else:
        text = {"integer": "integer", "float": "number", "boolean": "boolean"}.get(
            kind.name, "text"
        )
    if param.nargs > 1:
        text = f"{param.nargs} × {text}"
    if getattr(param, "multiple", False):
        text += ", repeatable"
    return text


def _range_text(kind: click.IntRange | click.FloatRange) -> str:
    lo, hi = kind.min, kind.max
    if lo is not None and hi is not None:
        left = "(" if kind.min_open else "["
        right = ")" if kind.max_open else "]"
        return f" in {left}{_plain(lo)}, {_plain(hi)}{right}"
    if lo is not None:
        return f" {'>' if kind.min_open else '≥'} {_plain(lo)}"
    if hi is not None:
        return f" {'<' if kind.max_open else '≤'} {_plain(hi)}"
    return ""


def _default_text(ctx: click.Context, opt: click.Option) -> str:
    if opt.required:
        return "required"
    described = MACHINE_DEFAULTS.get((ctx.command_path, opt.name or ""))
    if described is not None:
        return _escape(described, table=True)
    if isinstance(opt.show_default, str):
        return _escape(opt.show_default, table=True)
    if opt.is_flag:
        return ""
    value = opt.get_default(ctx, call=False)
    if callable(value):
        return "computed"
    if _unset(value) or value in ((), []):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(f"`{_plain(v)}`" for v in value)
    return f"`{_plain(value)}`"


def _unset(value: object) -> bool:
    """No default: ``None``, or click's ``UNSET`` sentinel (click >= 8.2)."""
    return value is None or (isinstance(value, enum.Enum) and value.name == "UNSET")


def _plain(value: object) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _escape(text: str, table: bool = False) -> str:
    """Markdown-escape help text, keeping its ``code spans``: ``*``, ``\\``, ``<``, a ``_`` that
    is not inside a word, a ``>`` or ``#`` opening a line; ``|`` and line breaks in table cells."""
    parts = re.split(r"(`[^`\n]*`)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a code span
            out.append(part.replace("|", "\\|") if table else part)
            continue
        chars = []
        for j, ch in enumerate(part):
            if ch in "\\*":
                ch = "\\" + ch
            elif ch == "<":
                ch = "&lt;"
            elif ch == "|" and table:
                ch = "\\|"
            elif ch == "_":
                before = part[j - 1] if j else ""
                after = part[j + 1] if j + 1 < len(part) else ""
                if not (_WORD.match(before) and _WORD.match(after)):
                    ch = "\\_"
            chars.append(ch)
        out.append("".join(chars))
    escaped = "".join(out)
    escaped = re.sub(r"(?m)^(\s*)([>#])", r"\1\\\2", escaped)
    return " ".join(escaped.split()) if table else escaped


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flashsim.cli.reference [-o FILE | --check FILE]``: write or check the
    reference; returns the exit status (1: ``--check`` found the file stale)."""
    parser = argparse.ArgumentParser(
        prog="python -m flashsim.cli.reference",
        description="Write the Markdown reference of the flashsim command line.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, help="write it to this file (default: stdout)")
    where.add_argument(
        "--check", type=Path, metavar="FILE", help="exit with status 1 if FILE is not current"
    )
    args = parser.parse_args(argv)
    text = cli_reference()
    if args.check is not None:
        try:
            current = args.check.read_text(encoding="utf-8")
        except OSError as err:
            print(f"{args.check}: cannot read it ({err}); run: {REGENERATE}", file=sys.stderr)
            return 1
        if current != text:
            print(f"{args.check} is stale; regenerate it: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))  # UTF-8 whatever the locale
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
