"""`conveyor simulate` on a small hand-made frame: each kind moves what it claims and nothing
it does not, the same seed gives the same batch, and a mistake is named by its option."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor import cli
from conveyor.errors import DataError
from conveyor.simulate import KINDS, UNSEEN_PREFIX, Columns, Simulation, simulate, write_batch

COLUMNS = Columns(
    numeric=("tenure", "spend"), categorical=("plan",), target="churned", positive_label="yes"
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = 2000
    return pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, rows).astype(float),
            "spend": rng.normal(60, 20, rows),
            "plan": pd.Series(rng.choice(["basic", "plus", "premium"], rows, p=[0.6, 0.3, 0.1]))
            .astype("string")
            .where(rng.random(rows) > 0.05),  # some missing categories
            "churned": np.where(rng.random(rows) < 0.3, "yes", "no"),
            "note": "not an input",
        }
    )


def _positive_rate(batch: pd.DataFrame) -> float:
    return float((batch["churned"] == "yes").mean())


def test_the_batch_holds_the_inputs_and_the_label(frame: pd.DataFrame) -> None:
    for kind in KINDS:
        batch, description = simulate(frame, COLUMNS, Simulation(kind, rows=500))
        assert list(batch.columns) == ["tenure", "spend", "plan", "churned"], kind
        assert len(batch) == 500 and description, kind
    assert len(simulate(frame, COLUMNS, Simulation("none"))[0]) == len(frame)


def test_covariate_shift_raises_a_numeric_inputs_mean_and_leaves_the_others(
    frame: pd.DataFrame,
) -> None:
    batch, description = simulate(frame, COLUMNS, Simulation("covariate", "tenure", seed=1))
    assert batch["tenure"].mean() > frame["tenure"].mean() + 0.2 * frame["tenure"].std()
    assert batch["spend"].mean() == pytest.approx(frame["spend"].mean(), abs=0.1 * 20)
    assert "tenure" in description
    weaker = simulate(frame, COLUMNS, Simulation("covariate", "tenure", seed=1, strength=2))[0]
    assert frame["tenure"].mean() < weaker["tenure"].mean() < batch["tenure"].mean()
    lowered = simulate(frame, COLUMNS, Simulation("covariate", "tenure", strength=0.1))[0]
    assert lowered["tenure"].mean() < frame["tenure"].mean() - 0.2 * frame["tenure"].std()


def test_the_first_input_is_shifted_when_no_column_is_named(frame: pd.DataFrame) -> None:
    batch, description = simulate(frame, COLUMNS, Simulation("covariate"))
    assert description.startswith("covariate shift on tenure")
    assert batch["tenure"].mean() > frame["tenure"].mean()


def test_covariate_shift_over_represents_one_category(frame: pd.DataFrame) -> None:
    batch, description = simulate(frame, COLUMNS, Simulation("covariate", "plan", strength=10))
    before = frame["plan"].value_counts(normalize=True)
    after = batch["plan"].value_counts(normalize=True)
    moved = (after - before).abs()
    favoured = str(moved.idxmax())
    # 0.3 -> 0.3·10 / (0.3·10 + 0.7) ≈ 0.81 moves furthest of the three shares.
    assert favoured == "plus" and f"'{favoured}'" in description
    assert after[favoured] > before[favoured] + 0.3
    assert set(after.index) <= set(before.index)


def test_label_shift_moves_the_positive_rate_by_the_requested_amount(
    frame: pd.DataFrame,
) -> None:
    before = _positive_rate(frame)
    for change in (0.2, -0.15):
        batch, description = simulate(frame, COLUMNS, Simulation("label", strength=change))
        assert _positive_rate(batch) == pytest.approx(before + change, abs=1 / len(batch))
        assert "churned" in description
    # Within a class the inputs are resampled, not changed: every row is a source row.
    batch = simulate(frame, COLUMNS, Simulation("label", rows=300))[0]
    source_rows = set(frame[["tenure", "spend", "churned"]].itertuples(index=False))
    assert set(batch[["tenure", "spend", "churned"]].itertuples(index=False)) <= source_rows


def test_the_positive_class_comes_from_the_columns_not_a_constant(frame: pd.DataFrame) -> None:
    flipped = Columns(COLUMNS.numeric, COLUMNS.categorical, "churned", positive_label="no")
    batch = simulate(frame, flipped, Simulation("label", strength=0.1))[0]
    assert float((batch["churned"] == "no").mean()) == pytest.approx(
        float((frame["churned"] == "no").mean()) + 0.1, abs=1 / len(batch)
    )


def test_noise_perturbs_numbers_and_adds_unseen_categories(frame: pd.DataFrame) -> None:
    batch, _ = simulate(frame, COLUMNS, Simulation("noise", strength=0.5, seed=2))
    assert len(batch) == len(frame)
    source_values = set(frame["tenure"])
    assert (~batch["tenure"].isin(source_values)).mean() > 0.99  # nearly every value moved
    assert batch["spend"].std() > frame["spend"].std()
    plan = batch["plan"].dropna()
    unseen = plan[~plan.isin(set(frame["plan"].dropna()))]
    assert unseen.str.startswith(UNSEEN_PREFIX).all()
    assert len(unseen) / len(plan) == pytest.approx(0.5, abs=0.05)
    assert batch["plan"].isna().sum() > 0, "missing values stay missing"
    one = simulate(frame, COLUMNS, Simulation("noise", column="plan"))[0]
    assert set(one["tenure"]) <= source_values, "only the named input is perturbed"


def test_no_drift_keeps_the_distributions_close(frame: pd.DataFrame) -> None:
    batch = simulate(frame, COLUMNS, Simulation("none", seed=5))[0]
    for name in ("tenure", "spend"):
        assert batch[name].mean() == pytest.approx(frame[name].mean(), abs=0.1 * frame[name].std())
    shares = batch["plan"].value_counts(normalize=True)
    assert (shares - frame["plan"].value_counts(normalize=True)).abs().max() < 0.05
    assert _positive_rate(batch) == pytest.approx(_positive_rate(frame), abs=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_gives_the_same_batch(frame: pd.DataFrame, kind: str) -> None:
    first = simulate(frame, COLUMNS, Simulation(kind, seed=11))[0]
    pd.testing.assert_frame_equal(first, simulate(frame, COLUMNS, Simulation(kind, seed=11))[0])
    assert not first.equals(simulate(frame, COLUMNS, Simulation(kind, seed=12))[0])


@pytest.mark.parametrize(
    ("simulation", "expected"),
    [
        (Simulation("sideways"), "--kind 'sideways' is not one of covariate, label, noise, none"),
        (Simulation("covariate", column="region"), "--column 'region' is not one of"),
        (Simulation("noise", column="churned"), "--column 'churned' is not one of"),
        (Simulation("label", column="plan"), "--column does not apply to --kind label"),
        (Simulation("none", rows=0), "--rows must be a positive number of rows, got 0"),
        (Simulation("covariate", rows=-5), "--rows must be a positive number of rows, got -5"),
        (Simulation("covariate", strength=0), "--strength for --kind covariate"),
        (Simulation("noise", strength=1.5), "--strength for --kind noise"),
        (Simulation("label", strength=0.9), "--strength +0.9 would move the positive rate"),
        (Simulation("none", strength=1), "--strength does not apply to --kind none"),
    ],
)
def test_mistakes_are_named(frame: pd.DataFrame, simulation: Simulation, expected: str) -> None:
    with pytest.raises(DataError) as caught:
        simulate(frame, COLUMNS, simulation)
    assert expected in str(caught.value)


def test_a_source_without_an_input_or_the_label_is_refused(frame: pd.DataFrame) -> None:
    for name in ("spend", "churned"):
        with pytest.raises(DataError, match=f"lacks column\\(s\\) {name}"):
            simulate(frame.drop(columns=[name]), COLUMNS, Simulation("none"))


def test_the_batch_is_written_whole_as_csv_or_parquet(frame: pd.DataFrame, tmp_path: Path) -> None:
    batch = simulate(frame, COLUMNS, Simulation("noise", rows=50))[0]
    write_batch(batch, tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b.parquet"), batch)
    write_batch(batch, tmp_path / "b.csv")
    again = pd.read_csv(tmp_path / "b.csv", dtype={"plan": "string", "churned": "string"})
    assert again["plan"].fillna("").tolist() == batch["plan"].fillna("").tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "b.parquet"], "no leftovers"


def test_the_command_offers_exactly_the_kinds() -> None:
    commands = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    kind = next(a for a in commands.choices["simulate"]._actions if a.dest == "kind")
    assert tuple(kind.choices or ()) == KINDS
