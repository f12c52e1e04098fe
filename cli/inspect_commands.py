"""``govern input`` and ``govern params``: what a policy reads, and where each threshold came from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import handle_errors

__all__ = ["input_command", "params_command"]


@handle_errors
def input_command(
    example: Annotated[
        Path | None,
        typer.Option("--example", "-e", help="An evidence document whose values fill the Example column."),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="A model spec whose effective parameters fill the params examples."),
    ] = None,
) -> None:
    """Print the input document policies read: every path of `input` and `data.govern.params`.

    Each path with its type, an example value, the collector that fills it and the stages at
    which it is present. Policies are checked against these paths when they load.

    Example:  govern input -e examples/adult-income/evidence.json --spec examples/adult-income/spec.yaml
    """
    from govern.engine.evidence import load_evidence
    from govern.engine.input_doc import render_input_doc
    from govern.engine.params import build_params
    from govern.engine.spec import load_spec

    value = load_evidence(example).value if example is not None else None
    params = build_params(load_spec(spec)) if spec is not None else None
    typer.echo(render_input_doc(value, params), nl=False)


@handle_errors
def params_command(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Override a policy parameter: key.path=value (JSON value). Repeatable."),
    ] = None,
) -> None:
    """Print the effective policy parameters (data.govern.params) and where each came from.

    Each value comes from the built-in default, the default for the spec's risk tier, a line of
    the spec, or --param; the last of these wins.

    Example:  govern params examples/adult-income/spec.yaml --param fairness.min_group_size=50
    """
    import json

    from govern.engine.params import build_params, param_sources, parse_param_override
    from govern.engine.spec import load_spec

    overrides = [parse_param_override(p) for p in param or []]
    model_spec = load_spec(spec)
    values = build_params(model_spec, overrides)
    sources = param_sources(model_spec, overrides)
    width = max((len(k) for k in sources), default=0)
    for path, source in sources.items():
        node: object = values
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        typer.echo(f"{path.ljust(width)}  {json.dumps(node)}  ({source})")
