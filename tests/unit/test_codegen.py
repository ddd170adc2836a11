"""app/db/codegen.py: golden output from a tiny schema, error reporting, and the --check/regenerate CLI.

The golden files in tests/unit/codegen_golden/expected/ are what the generator must produce for
codegen_golden/schema + codegen_golden/queries. After an intended change to the generator, rewrite them with
    CODEGEN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_codegen.py --no-cov
and review the diff.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.db import codegen

GOLDEN = Path(__file__).parent / "codegen_golden"
EXPECTED = GOLDEN / "expected"
GOLDEN_SOURCE_DIR = "tests/unit/codegen_golden/queries"
LINE_LENGTH = 120

requires_sqlc = pytest.mark.skipif(codegen.find_sqlc() is None, reason="sqlc is not installed")


def write_sqlc_config(directory: Path, schema: Path, queries: Path) -> tuple[Path, Path]:
    """A sqlc config in `directory` reading copies of schema/ and queries/; returns (config, json output)."""
    # sqlc resolves every path relative to its config file, even absolute ones, so work on copies.
    shutil.copytree(schema, directory / "schema")
    shutil.copytree(queries, directory / "queries")
    config = {
        "version": "2",
        "sql": [
            {
                "engine": "postgresql",
                "schema": "schema",
                "queries": "queries",
                "gen": {"json": {"out": "out", "filename": "codegen.json", "indent": "  "}},
            }
        ],
    }
    config_path = directory / "sqlc.json"
    config_path.write_text(json.dumps(config))
    return config_path, directory / "out" / "codegen.json"


@pytest.fixture(scope="module")
def golden_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if codegen.find_sqlc() is None:
        pytest.skip("sqlc is not installed")
    config, json_output = write_sqlc_config(tmp_path_factory.mktemp("sqlc"), GOLDEN / "schema", GOLDEN / "queries")
    return codegen.generate(
        codegen.run_sqlc(config, json_output), source_dir=GOLDEN_SOURCE_DIR, line_length=LINE_LENGTH
    )


def test_output_matches_the_golden_files(golden_output: dict[str, str]) -> None:
    if os.environ.get("CODEGEN_UPDATE_GOLDEN"):
        for path in EXPECTED.glob("*.py"):
            path.unlink()
        for name, source in golden_output.items():
            (EXPECTED / name).write_text(source, encoding="utf-8")
    expected = {path.name: path.read_text(encoding="utf-8") for path in sorted(EXPECTED.glob("*.py"))}
    assert sorted(golden_output) == sorted(expected)
    for name, source in golden_output.items():
        assert source == expected[name], f"{name} differs from the golden file; see this module's docstring"


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _assert_ruff_clean(source: str, name: str) -> None:
    ruff = _tool("ruff")
    # Lint it as a real generated module would be, under app/db/queries/ with the project's rules.
    as_if = f"app/db/queries/{name}"
    for command in (["format", "--check"], ["check", "--no-fix"]):
        result = subprocess.run(
            [ruff, *command, "--line-length", str(LINE_LENGTH), "--stdin-filename", as_if, "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=codegen.REPO_ROOT,
            check=False,
        )
        assert result.returncode == 0, f"ruff {command[0]} {name}:\n{result.stdout}{result.stderr}"


def test_golden_output_is_formatted_and_lint_clean(golden_output: dict[str, str]) -> None:
    for name, source in golden_output.items():
        _assert_ruff_clean(source, name)


def test_golden_output_passes_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    # The modules import app.db.types and app.db.queries.rows: check them as that package, with the golden rows.py.
    package = tmp_path / "app" / "db"
    shutil.copytree(EXPECTED, package / "queries")
    shutil.copy(codegen.REPO_ROOT / "app" / "db" / "types.py", package / "types.py")
    for init in (tmp_path / "app" / "__init__.py", package / "__init__.py"):
        init.touch()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "-p", "app.db.queries"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Hand-written sqlc JSON: errors, naming, escaping (no sqlc needed) ---


def column(name: str, pg_type: str, *, schema: str = "", not_null: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "not_null": not_null, "type": {"schema": schema, "name": pg_type}, **extra}


def sqlc_json(*queries: dict[str, Any], enums: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    schemas = [{"name": "public", "enums": enums or []}]
    return {"catalog": {"default_schema": "public", "schemas": schemas}, "queries": list(queries)}


def query(name: str, cmd: str, columns: list[dict[str, Any]], params: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    numbered = [{"number": number, "column": param} for number, param in enumerate(params, start=1)]
    return {
        "name": name,
        "cmd": cmd,
        "text": "select 1",
        "filename": "things.sql",
        "columns": columns,
        "params": numbered,
    }


@pytest.mark.parametrize(
    ("pg_type", "hint"),
    [("void", ":exec"), ("any", "explicit cast"), ("anyarray", "cast"), ("float", "numeric"), ("tsvector", "PG_TYPES")],
)
def test_a_column_type_without_mapping_names_query_column_and_type(pg_type: str, hint: str) -> None:
    bad = query("GetThing", ":one", [column("id", "uuid"), column("weird", pg_type)])
    with pytest.raises(codegen.CodegenError) as raised:
        codegen.generate(sqlc_json(bad))
    message = str(raised.value)
    for part in ("sql/queries/things.sql", "GetThing", "'weird'", repr(pg_type), hint):
        assert part in message


def test_a_parameter_type_without_mapping_is_reported() -> None:
    bad = query("DeleteThing", ":exec", [], [column("thing", "tsvector", schema="pg_catalog")])
    with pytest.raises(codegen.CodegenError, match=r"DeleteThing, parameter \$1 \(thing\).*'pg_catalog.tsvector'"):
        codegen.generate(sqlc_json(bad))


def test_a_type_in_another_schema_is_not_taken_for_a_builtin() -> None:
    bad = query("GetThing", ":one", [column("id", "text", schema="extensions")])
    with pytest.raises(codegen.CodegenError, match=r"'extensions\.text'"):
        codegen.generate(sqlc_json(bad))


def test_columns_of_exec_queries_are_ignored() -> None:
    # `select pg_notify(...)` returns void; :exec never reads it.
    notify = query("Notify", ":exec", [column("pg_notify", "void")], [column("payload", "text")])
    assert (
        "async def notify(conn: Connection, *, payload: str) -> None:"
        in codegen.generate(sqlc_json(notify))["things.py"]
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (query("BatchThings", ":batchexec", []), ":batchexec is not supported"),
        (query("GetNothing", ":one", []), "must return columns"),
        (query("Embedded", ":one", [column("things", "", embed_table={"name": "things"})]), "sqlc.embed"),
        (query("CopyThings", ":copyfrom", [], [column("a", "text")]), "insert into <table>"),
    ],
)
def test_unsupported_queries_are_reported(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(codegen.CodegenError, match=message):
        codegen.generate(sqlc_json(bad))


def test_clashing_names_are_reported() -> None:
    # The query's function would shadow the uuid module the module imports.
    clash = query("Uuid", ":many", [column("id", "uuid"), column("name", "text")])
    with pytest.raises(codegen.CodegenError, match="'uuid'"):
        codegen.generate(sqlc_json(clash))


def test_unexpected_json_is_reported() -> None:
    with pytest.raises(codegen.CodegenError, match="unexpected sqlc JSON"):
        codegen.generate({"catalog": {}, "queries": [{"name": 1}]})


def test_enums_become_literal_aliases_and_nullable_json_stays_any() -> None:
    mood = {"name": "mood", "vals": ["happy", "sad"]}
    get = query("GetMood", ":one", [column("mood", "mood"), column("meta", "jsonb", not_null=False)])
    source = codegen.generate(sqlc_json(get, enums=[mood]))["things.py"]
    assert 'Mood: TypeAlias = Literal["happy", "sad"]' in source
    assert "    mood: Mood\n    meta: Any\n" in source


# --- Shared rows: `-- row: Name` ---

CARD = [
    column("id", "uuid"),
    column("title", "text"),
    column("tags", "text", is_array=True, array_dims=1),
    column("stars", "int4", schema="pg_catalog", not_null=False),
]


def named_row(row: str, named: dict[str, Any], *comments: str, filename: str = "things.sql") -> dict[str, Any]:
    """The query with `-- row: {row}` right under its `-- name:` line, then `comments`."""
    return named | {"comments": [f" row: {row}", *comments], "filename": filename}


def test_queries_naming_one_row_return_it_from_rows_py() -> None:
    get = named_row("Card", query("GetCard", ":one", CARD, [column("id", "uuid")]), " One card.", filename="cards.sql")
    # The same columns with other spellings of the same types (sqlc reports what the SQL wrote).
    respelled = [
        column("id", "uuid", schema="pg_catalog"),
        column("title", "text", schema="pg_catalog"),
        column("tags", "text", is_array=True, array_dims=1),
        column("stars", "integer", not_null=False),
    ]
    listing = named_row("Card", query("ListCards", ":many", respelled))
    # Prose that starts with "row:" further down is docstring, and a query without the annotation keeps its row.
    own = query("GetOwnCard", ":one", CARD) | {"comments": [" Cards.", " row: not an annotation"]}
    files = codegen.generate(sqlc_json(get, listing, own))

    assert sorted(files) == ["__init__.py", "cards.py", "rows.py", "things.py"]
    rows = files["rows.py"]
    assert rows.startswith(f"{codegen.GENERATED_MARKER} from sql/queries/*.sql. DO NOT EDIT.\n")
    assert rows.count("class ") == 1
    assert "# Returned by cards.get_card, things.list_cards.\nclass Card(msgspec.Struct, frozen=True):\n" in rows
    assert "    id: uuid.UUID\n    title: str\n    tags: list[str]\n    stars: int | None\n" in rows
    for module, returns in (("cards.py", ") -> Card | None:"), ("things.py", ") -> list[Card]:")):
        assert "from app.db.queries.rows import Card\n" in files[module]
        assert returns in files[module]
    assert "class " not in files["cards.py"]
    assert '"""One card."""' in files["cards.py"]  # the annotation is no part of the docstring
    assert "class GetOwnCardRow(msgspec.Struct, frozen=True):" in files["things.py"]
    assert '"""Cards.\n    row: not an annotation\n    """' in files["things.py"]


def test_without_shared_rows_there_is_no_rows_py() -> None:
    assert "rows.py" not in codegen.generate(sqlc_json(query("GetCard", ":one", CARD)))


@pytest.mark.parametrize(
    ("columns", "difference"),
    [
        (  # nullability
            [*CARD[:3], column("stars", "int4")],
            "column 4 differs: stars int4 null in GetCard, stars int4 not null in ListCards",
        ),
        (  # types Python does not tell apart are still different columns
            [*CARD[:3], column("stars", "int8", not_null=False)],
            "column 4 differs: stars int4 null in GetCard, stars int8 null in ListCards",
        ),
        (  # arrays
            [*CARD[:2], column("tags", "text"), CARD[3]],
            "column 3 differs: tags text[] not null in GetCard, tags text not null in ListCards",
        ),
        (  # names
            [*CARD[:3], column("rating", "int4", not_null=False)],
            "column 4 differs: stars int4 null in GetCard, rating int4 null in ListCards",
        ),
        (  # order
            [CARD[1], CARD[0], *CARD[2:]],
            "column 1 differs: id uuid not null in GetCard, title text not null in ListCards",
        ),
        (CARD[:3], "column 4 differs: stars int4 null in GetCard, no such column in ListCards"),
        (
            [*CARD, column("extra", "text")],
            "column 5 differs: no such column in GetCard, extra text not null in ListCards",
        ),
    ],
)
def test_queries_naming_one_row_must_return_the_same_columns(columns: list[dict[str, Any]], difference: str) -> None:
    get = named_row("Card", query("GetCard", ":one", CARD), filename="cards.sql")
    listing = named_row("Card", query("ListCards", ":many", columns))
    with pytest.raises(codegen.CodegenError) as raised:
        codegen.generate(sqlc_json(get, listing))
    assert str(raised.value) == (
        "`-- row: Card`: query GetCard (sql/queries/cards.sql) and query ListCards (sql/queries/things.sql) must "
        f"return the same columns; {difference}"
    )


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ([named_row("Card", query("TouchCard", ":exec", CARD))], r"TouchCard: `-- row: Card` needs a :one or :many"),
        ([named_row("Card", query("CardId", ":one", CARD[:1]))], "CardId: `-- row: Card` needs two or more columns"),
        (
            [query("GetCard", ":one", CARD) | {"comments": [" A card.", " row: Card"]}],
            r"GetCard: `-- row: Card` must be the line right under `-- name:`",
        ),
        ([named_row("card_row", query("GetCard", ":one", CARD))], "`-- row: card_row` must name a class"),
        ([named_row("", query("GetCard", ":one", CARD))], "`-- row: ` must name a class"),
        (  # the shared row would hide another query's own row in the module that imports it
            [query("GetThing", ":one", CARD), named_row("GetThingRow", query("ListCards", ":many", CARD))],
            "things.sql: row Struct of query GetThing and import of app.db.queries.rows are both named 'GetThingRow'",
        ),
        (  # or an import of rows.py
            [named_row("Any", query("GetMeta", ":one", [column("id", "uuid"), column("meta", "jsonb")]))],
            "rows.py: row Any .* and import of typing are both named 'Any'",
        ),
    ],
)
def test_misused_row_annotations_are_reported(queries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(codegen.CodegenError, match=message):
        codegen.generate(sqlc_json(*queries))


# --- `-- nullable: a, b`: columns sqlc takes for not null ---


def test_nullable_columns_become_optional_in_their_row_and_in_a_shared_row() -> None:
    sure = [column("id", "uuid"), column("tier", "int4", schema="pg_catalog")]
    own = query("GetTier", ":one", sure) | {"comments": [" nullable: tier", " The tier."]}
    shared = named_row("Tiered", query("ListTiers", ":many", sure)) | {"comments": [" row: Tiered", " nullable: tier"]}
    files = codegen.generate(sqlc_json(own, shared))

    assert "class GetTierRow(msgspec.Struct, frozen=True):\n" in files["things.py"]
    assert "    id: uuid.UUID\n    tier: int | None\n" in files["things.py"]
    assert '"""The tier."""' in files["things.py"]  # the annotation is no part of the docstring
    assert "    id: uuid.UUID\n    tier: int | None\n" in files["rows.py"]


def test_a_shared_row_needs_the_same_nullable_columns_in_every_query() -> None:
    sure = [column("id", "uuid"), column("tier", "int4", schema="pg_catalog")]
    marked = named_row("Tiered", query("GetTier", ":one", sure)) | {"comments": [" row: Tiered", " nullable: tier"]}
    unmarked = named_row("Tiered", query("ListTiers", ":many", sure))
    with pytest.raises(codegen.CodegenError, match="column 2 differs: tier int4 null in GetTier, tier int4 not null"):
        codegen.generate(sqlc_json(marked, unmarked))


def test_a_nullable_annotation_must_name_result_columns() -> None:
    named = query("GetCard", ":one", CARD) | {"comments": [" nullable: stars, rating"]}
    with pytest.raises(codegen.CodegenError, match="GetCard: `-- nullable:` names no result column rating"):
        codegen.generate(sqlc_json(named))


def test_rows_py_without_enums_is_formatted_and_lint_clean() -> None:
    # The golden rows.py starts with enum aliases; here a class follows the imports directly.
    get = named_row("Card", query("GetCard", ":one", CARD))
    _assert_ruff_clean(codegen.generate(sqlc_json(get))["rows.py"], "rows.py")


TRICKY_SQL = [
    "select 1",
    "select 'a\\b' as backslash, '\"\"\"' as triple, 'tab\there' as tab, 'é' as accent from things where x = '\"'",
    "select id\r\nfrom things\r\nwhere note = 'carriage returns'",
    "select " + "x" * 150 + " from things",
    "select " + ", ".join(f"column_{n}" for n in range(40)) + "\nfrom things\nwhere id = $1",
]


@pytest.mark.parametrize("line_length", [40, 88, 120])
@pytest.mark.parametrize("text", TRICKY_SQL)
def test_sql_constants_keep_the_exact_text_within_the_line_length(text: str, line_length: int) -> None:
    get = query("GetThing", ":one", [column("id", "uuid")])
    get["text"] = text
    get["comments"] = ["", " Tricky text.", ""]
    source = codegen.generate(sqlc_json(get), line_length=line_length)["things.py"]
    namespace: dict[str, Any] = {}
    exec(compile(source, "things.py", "exec"), namespace)
    assert namespace["GET_THING"] == text
    assert namespace["get_thing"].__doc__ == "Tricky text."
    constant = source[source.index("GET_THING = ") : source.index("\n\n\nasync def")]
    assert all(len(line) <= line_length for line in constant.splitlines() if " " in line.strip())


def test_identifiers_are_sanitised_and_deduplicated() -> None:
    names = ("1st", "", "class", "Mixed Case", "id", "id", "str", "value")
    params = [column("", "text"), column("from", "text"), column("value", "text"), column("id", "text")]
    get = query("ListThings", ":many", [column(name, "text") for name in names], params)
    source = codegen.generate(sqlc_json(get))["things.py"]
    fields = ["column_1st", "column_2", "class_", "mixed_case", "id", "id_2", "str_", "value"]
    assert "".join(f"    {field}: str\n" for field in fields) in source
    assert "*, p1: str, from_: str, value_: str, id: str)" in source


@pytest.mark.parametrize(
    ("filenames", "message"),
    [
        (["class.sql"], "cannot name a Python module"),
        (["a-b.sql", "a_b.sql"], "would both generate a_b.py"),
        (["rows.sql"], "would both generate rows.py"),
    ],
)
def test_bad_module_names_are_reported(filenames: list[str], message: str) -> None:
    queries = []
    for number, filename in enumerate(filenames):
        queries.append(query(f"Q{number}", ":exec", []) | {"filename": filename})
    with pytest.raises(codegen.CodegenError, match=message):
        codegen.generate(sqlc_json(*queries))


def _load_golden(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"codegen_golden_{name}", EXPECTED / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def golden_rows(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The golden rows.py, imported as the app.db.queries.rows the golden query modules import."""
    rows = _load_golden("rows")
    monkeypatch.setitem(sys.modules, codegen.ROWS_IMPORT, rows)
    return rows


def test_golden_module_imports_and_builds_rows(golden_rows: Any) -> None:
    kitchen = _load_golden("kitchen")
    cook_id = uuid.uuid4()
    item = kitchen.AddPantryItemsParams(cook_id, "flour", decimal.Decimal(500), "g", None)
    assert msgspec.structs.astuple(item) == (cook_id, "flour", decimal.Decimal(500), "g", None)
    assert kitchen.TouchCookRow(*(cook_id, None, None)).id == cook_id


class RecordingConnection:
    """Answers fetchrow/fetch with the given records (tuples stand in for asyncpg Records)."""

    def __init__(self, *records: tuple[Any, ...]) -> None:
        self.records = list(records)

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        return self.records[0] if self.records else None

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.records


async def test_queries_naming_a_row_return_that_one_type_from_rows(golden_rows: Any) -> None:
    kitchen, pantry = _load_golden("kitchen"), _load_golden("pantry")
    record = (uuid.uuid4(), "ada@example.com", None, "advanced", ["beginner"])
    card = golden_rows.CookCard(*record)
    connection = RecordingConnection(record)
    assert await kitchen.get_cook_card(connection, id=record[0]) == card
    assert await kitchen.list_cook_cards(connection, max_rows=10) == [card]
    rows_of_other_file = await pantry.pantry_cooks(connection, name="flour")
    assert rows_of_other_file == [card]
    assert type(rows_of_other_file[0]) is golden_rows.CookCard
    assert not hasattr(kitchen, "GetCookCardRow") and not hasattr(pantry, "PantryCooksRow")
    # Queries without `-- row:` keep a row of their own.
    assert kitchen.CookSummariesRow is not golden_rows.CookCard


# --- sqlc failures and the CLI ---


@requires_sqlc
def test_sqlc_errors_are_reported_with_its_message(tmp_path: Path) -> None:
    queries = tmp_path / "src" / "queries"
    queries.mkdir(parents=True)
    (queries / "broken.sql").write_text("-- name: Broken :one\nselect id from no_such_table;\n")
    config, json_output = write_sqlc_config(tmp_path / "work", GOLDEN / "schema", queries)
    with pytest.raises(
        codegen.CodegenError, match=r'sqlc generate failed(.|\n)*relation "no_such_table" does not exist'
    ):
        codegen.run_sqlc(config, json_output)


def test_a_missing_sqlc_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "find_sqlc", lambda: None)
    with pytest.raises(codegen.CodegenError, match="sqlc not found"):
        codegen.run_sqlc(tmp_path / "sqlc.json", tmp_path / "out.json")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """main() pointed at a throwaway copy of the golden schema and queries; yields the output directory."""
    if codegen.find_sqlc() is None:
        pytest.skip("sqlc is not installed")
    config, json_output = write_sqlc_config(tmp_path / "sql", GOLDEN / "schema", GOLDEN / "queries")
    output_dir = tmp_path / "app" / "db" / "queries"
    monkeypatch.setattr(codegen, "SQLC_CONFIG", config)
    monkeypatch.setattr(codegen, "SQLC_JSON", json_output)
    monkeypatch.setattr(codegen, "OUTPUT_DIR", output_dir)
    yield output_dir


def test_check_fails_until_generated_then_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert codegen.main(["--check"]) == 1
    assert "missing: " in capsys.readouterr().err

    assert codegen.main([]) == 0
    assert sorted(path.name for path in project.iterdir()) == ["__init__.py", "kitchen.py", "pantry.py", "rows.py"]
    assert codegen.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_names_stale_and_extra_files_and_regenerating_fixes_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert codegen.main([]) == 0
    kitchen = project / "kitchen.py"
    kitchen.write_text(kitchen.read_text() + "# edited by hand\n")
    (project / "gone.py").write_text(f"{codegen.GENERATED_MARKER} from sql/queries/gone.sql. DO NOT EDIT.\n")
    (project / "helpers.py").write_text("# written by a person\n")
    capsys.readouterr()

    assert codegen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "stale:" in err and "kitchen.py" in err
    assert "extra:" in err and "gone.py" in err
    assert "helpers.py" not in err

    assert codegen.main([]) == 0
    assert not (project / "gone.py").exists()
    assert (project / "helpers.py").exists()  # hand-written files are left alone
    assert codegen.main(["--check"]) == 0


def test_check_names_a_stale_rows_py_and_one_no_query_names_any_more(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert codegen.main([]) == 0
    rows = project / "rows.py"
    rows.write_text(rows.read_text().replace("    nickname: str | None\n", ""))
    capsys.readouterr()
    assert codegen.main(["--check"]) == 1
    assert "stale:   " in (err := capsys.readouterr().err) and "rows.py" in err
    assert codegen.main([]) == 0
    assert codegen.main(["--check"]) == 0

    # Without any `-- row:` left, rows.py is an extra file, and regenerating removes it.
    for sql in (codegen.SQLC_CONFIG.parent / "queries").glob("*.sql"):
        sql.write_text("\n".join(line for line in sql.read_text().splitlines() if not line.startswith("-- row:")))
    capsys.readouterr()
    assert codegen.main(["--check"]) == 1
    assert "rows.py (no query names a row any more)" in capsys.readouterr().err
    assert codegen.main([]) == 0
    assert not rows.exists()
    assert codegen.main(["--check"]) == 0


def test_main_reports_sqlc_failures(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = codegen.SQLC_CONFIG.parent / "queries"
    (queries / "broken.sql").write_text("-- name: Broken :one\nselect nope from cooks;\n")
    assert codegen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "sqlc generate failed" in err and 'column "nope" does not exist' in err


def test_a_hand_written_file_is_never_overwritten(project: Path) -> None:
    project.mkdir(parents=True)
    (project / "kitchen.py").write_text("# written by a person\n")
    assert codegen.main([]) == 1
    assert (project / "kitchen.py").read_text() == "# written by a person\n"


def test_line_length_comes_from_ruff_config(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.ruff]\nline-length = 99\n")
    assert codegen.ruff_line_length(pyproject) == 99
    pyproject.write_text("[project]\nname = 'x'\n")
    assert codegen.ruff_line_length(pyproject) == 88
    assert codegen.ruff_line_length(tmp_path / "missing.toml") == codegen.DEFAULT_LINE_LENGTH
