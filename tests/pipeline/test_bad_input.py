"""Bad input through the real CLI: a non-zero exit, one paragraph naming the culprit, no
traceback unless --verbose, and no output left behind."""

from __future__ import annotations

import gzip

import pytest

from conveyor.paths import ProjectPaths
from tests.conftest import Project, churn_frame, churn_params

pytestmark = pytest.mark.pipeline


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The churn data pseudonymises e-mails, which needs a key (one test takes it away)."""
    monkeypatch.setenv("CONVEYOR_PSEUDONYM_KEY", "test-key")


def _assert_clean_failure(project: Project, before: set[str], *needles: str) -> None:
    result = project.run("prepare")
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("conveyor prepare: error: ")
    for needle in needles:
        assert needle in result.stderr
    assert project.files() == before, "a failed stage must not leave files behind"


def test_missing_column(churn_project: Project) -> None:
    churn_project.write_csv(churn_frame().drop(columns=["region"]))
    _assert_clean_failure(
        churn_project, churn_project.files(), "data/churn.csv", "'region'", "categorical_features"
    )


def test_wrong_dtype(churn_project: Project) -> None:
    frame = churn_frame().astype({"monthly_spend": object})
    frame.loc[10, "monthly_spend"] = "sixty"
    churn_project.write_csv(frame)
    _assert_clean_failure(
        churn_project, churn_project.files(), "'monthly_spend'", "sixty (record 11)"
    )


def test_empty_file(churn_project: Project) -> None:
    (churn_project.root / "data" / "churn.csv").write_text("")
    _assert_clean_failure(churn_project, churn_project.files(), "data/churn.csv is empty")


def test_target_with_one_class(churn_project: Project) -> None:
    churn_project.write_csv(churn_frame().assign(churned="yes"))
    _assert_clean_failure(
        churn_project, churn_project.files(), "'churned' has only one class ('yes')"
    )


def test_corrupt_gzip(churn_project: Project) -> None:
    path = churn_project.root / "data" / "churn.csv.gz"
    path.write_bytes(gzip.compress(churn_frame().to_csv(index=False).encode())[:300])
    churn_project.write_params(churn_params(source="data/churn.csv.gz"))
    _assert_clean_failure(
        churn_project, churn_project.files(), "data/churn.csv.gz is not a valid gzip file"
    )


def test_unknown_key_and_bad_value_in_params(churn_project: Project) -> None:
    params = churn_params()
    params["split"]["test_fraction"] = 1.5
    params["model"]["learning_rat"] = 0.1
    churn_project.write_params(params)
    _assert_clean_failure(
        churn_project,
        churn_project.files(),
        "split.test_fraction: Input should be less than 1",
        "model.learning_rat: unknown key",
    )


def test_verbose_shows_the_traceback(churn_project: Project) -> None:
    churn_project.write_csv(churn_frame().assign(churned="no"))
    result = churn_project.run("prepare", "--verbose")
    assert result.code == 2
    assert "Traceback" in result.stderr
    assert "DataError" in result.stderr


def test_a_failed_rerun_keeps_the_last_good_outputs(churn_project: Project) -> None:
    assert churn_project.run("prepare").code == 0
    paths = ProjectPaths(churn_project.root)
    train = paths.train_data
    good = train.read_bytes()
    before = churn_project.files()
    assert before >= {str(p.relative_to(paths.root)) for p in paths.stage_outputs()["prepare"]}
    churn_project.write_csv(churn_frame().drop(columns=["plan"]))
    _assert_clean_failure(churn_project, before, "'plan'")
    assert train.read_bytes() == good


def test_pseudonymising_without_a_key_stops_before_reading_data(
    churn_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVEYOR_PSEUDONYM_KEY")
    _assert_clean_failure(
        churn_project, churn_project.files(), "CONVEYOR_PSEUDONYM_KEY", "['customer_email']"
    )


def test_later_stages_say_which_command_to_run(churn_project: Project) -> None:
    result = churn_project.run("train")
    assert result.code == 2
    assert "train.parquet does not exist; run `dvc repro`" in result.stderr


def test_params_are_checked_before_any_stage_reads_data(churn_project: Project) -> None:
    churn_project.write_params(churn_params(hyperparameters={"C": -1}))
    result = churn_project.run("check")
    assert result.code == 2
    assert "model.hyperparameters" in result.stderr
    assert "'C' parameter of LogisticRegression" in result.stderr
