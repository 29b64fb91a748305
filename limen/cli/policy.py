"""`limen policy import|export|list`: Conditional Access policies as files of Graph JSON.

`import` takes files and folders (searched recursively for *.json) holding one object, an array, or
`{"value": [...]}`, in UTF-8 (with or without BOM) or UTF-16; named locations and authentication
strengths in the same files are imported too, before the policies that name them. It reports, per
file, what was imported and what was rejected (JSON path and reason), with the warnings, and exits 1
when anything was rejected. `--dry-run` checks everything and saves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from limen.cli._common import command_services, console, err_console, friendly_errors
from limen.domain.access.schema import Issue
from limen.service import conditional_access as ca
from limen.service.conditional_access_import import (
    NAMED_LOCATION,
    POLICY,
    STRENGTH,
    ObjectResult,
    SourceReport,
    export_document,
    export_objects,
    import_sources,
    json_files,
    read_source,
)
from limen.service.security_defaults import MutuallyExclusive
from limen.service.tenants import default_tenant_id

policy_app = typer.Typer(
    help="Conditional Access policies: import, export and list (Graph JSON).", no_args_is_help=True
)

#: Warnings shown per object unless --all-warnings.
SHOWN_WARNINGS = 5
_KIND_WORDS = {POLICY: "policy", NAMED_LOCATION: "named location", STRENGTH: "authentication strength"}


def register(app: typer.Typer) -> None:
    """Add `limen policy ...` to the `limen` app."""
    from limen.cli import policy_tools  # lint and templates live beside import/export/list

    policy_tools.register(policy_app)
    app.add_typer(policy_app, name="policy")


@policy_app.command("import")
def import_command(
    paths: list[Path] = typer.Argument(..., exists=True, help="Files or folders (searched recursively for *.json)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report everything, save nothing."),
    as_report_only: bool = typer.Option(
        False,
        "--as-report-only",
        help="Import enabled policies in report-only mode (needed while security defaults are on).",
    ),
    all_warnings: bool = typer.Option(
        False, "--all-warnings", help=f"List every warning (default: {SHOWN_WARNINGS} per object)."
    ),
) -> None:
    """Import policies, named locations and authentication strengths exported from Entra or Limen."""
    files = json_files(paths)
    if not files:
        err_console.print("[red]error:[/red] no *.json files found.")
        raise typer.Exit(1)
    sources = [read_source(path) for path in files]
    total = sum(len(source.objects) for source in sources)
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=err_console, transient=True) as progress:
                task = progress.add_task("Importing", total=total)
                reports = import_sources(
                    db,
                    tenant_id,
                    sources,
                    services.clock.now(),
                    as_report_only=as_report_only,
                    progress=lambda: progress.advance(task),
                )
            if dry_run:
                db.rollback()
            else:
                db.commit()
    _print_reports(reports, all_warnings=all_warnings)
    rejected = _summary(reports, dry_run=dry_run)
    if rejected:
        raise typer.Exit(1)


def _print_reports(reports: list[SourceReport], *, all_warnings: bool) -> None:
    for report in reports:
        name = escape(report.name)
        if report.error is not None:
            console.print(f"[red]✗[/red] {name}: [red]rejected[/red]: {escape(report.error)}", highlight=False)
            continue
        if not report.results:
            console.print(f"[yellow]-[/yellow] {name}: no objects", highlight=False)
            continue
        mark = "[green]✓[/green]" if not report.rejected else "[red]✗[/red]"
        console.print(f"{mark} {name}: {report.imported} imported, {report.rejected} rejected", highlight=False)
        for result in report.results:
            _print_result(result, all_warnings=all_warnings)


def _print_result(result: ObjectResult, *, all_warnings: bool) -> None:
    what = f"{_KIND_WORDS.get(result.kind, 'object')} {result.display_name!r}" if result.display_name else "object"
    where = f"#{result.index + 1} {escape(what)}"
    if result.imported:
        if result.warnings:
            console.print(f"    imported {where} ({result.id})", highlight=False)
    else:
        console.print(f"    [red]rejected[/red] {where}: {escape(_issue(result.error))}", highlight=False)
        for issue in result.errors[1:]:
            console.print(f"      also: {escape(_issue(issue))}", highlight=False)
    shown = result.warnings if all_warnings else result.warnings[:SHOWN_WARNINGS]
    for issue in shown:
        console.print(f"      [yellow]warning[/yellow]: {escape(_issue(issue))}", highlight=False)
    if len(result.warnings) > len(shown):
        console.print(f"      ... and {len(result.warnings) - len(shown)} more warnings (--all-warnings)")


def _issue(issue: Issue | None) -> str:
    return "" if issue is None else str(issue)


def _summary(reports: list[SourceReport], *, dry_run: bool) -> int:
    counts = {kind: 0 for kind in _KIND_WORDS}
    rejected = warnings = 0
    conflicts = False
    for report in reports:
        rejected += report.error is not None
        for result in report.results:
            warnings += len(result.warnings)
            if result.imported:
                counts[result.kind] += 1
            else:
                rejected += 1
                conflicts |= result.code == MutuallyExclusive.code
    verb = "Would import" if dry_run else "Imported"
    console.print(
        f"{verb} {counts[POLICY]} policies, {counts[NAMED_LOCATION]} named locations and "
        f"{counts[STRENGTH]} authentication strengths; {rejected} rejected, {warnings} warnings."
        + (" Dry run: nothing was saved." if dry_run else "")
    )
    if conflicts:
        err_console.print(
            "Security defaults are on, so enabled policies were refused. Import them with --as-report-only "
            "(they are evaluated and logged, not enforced), or turn security defaults off first "
            "(`limen security-defaults off`)."
        )
    return rejected


@policy_app.command("export")
def export_command(
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help='A file for one {"value": [...]} of everything, or a folder for one file per kind (default: stdout).',
    ),
) -> None:
    """Export policies, named locations and custom authentication strengths as Graph JSON."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            if output is not None and output.is_dir():
                parts = export_objects(db, tenant_id)
                for kind, items in parts.items():
                    _write_json(output / f"{kind}.json", {"value": items})
                counts = ", ".join(f"{len(items)} {kind}" for kind, items in parts.items())
                err_console.print(f"Exported {counts} to {output}.")
                return
            document = export_document(db, tenant_id)
    if output is None:
        # Plain print: Rich would wrap long lines and break the JSON for whoever reads the pipe.
        print(_dumps(document))
        return
    _write_json(output, document)
    err_console.print(f"Exported {len(document['value'])} objects to {output}.")


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def _write_json(path: Path, document: Any) -> None:
    path.write_text(_dumps(document) + "\n", encoding="utf-8")


@policy_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of a table.")) -> None:
    """List the tenant's Conditional Access policies."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with services.db() as db:
            strengths = ca.strength_lookup(db, tenant_id)
            policies = [ca.policy_json(row, strengths) for row in ca.list_policies(db, tenant_id)]
    if as_json:
        print(_dumps(policies))
        return
    if not policies:
        console.print("No Conditional Access policies. Import some with `limen policy import PATH`.")
        return
    table = Table("Display name", "State", "Id", "Modified")
    for policy in policies:
        table.add_row(
            escape(policy["displayName"]),
            _STATE_WORDS.get(policy["state"], policy["state"]),
            policy["id"],
            policy["modifiedDateTime"] or policy["createdDateTime"] or "",
        )
    console.print(table)
    console.print(f"{len(policies)} of at most {ca.MAX_POLICIES} policies.")


_STATE_WORDS = {"enabled": "on", "disabled": "off", "enabledForReportingButNotEnforced": "report-only"}
