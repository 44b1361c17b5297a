"""Simulated survey waves: ours and two competitors, with known truth.

The generative process (all truth is in :class:`SurveyParams` and written to
``survey_truth.json``):

- each brand has a true mean performance per attribute (on the rating scale), which may move
  between waves (``wave_shift``: a change of *our* performance from the second wave on);
- a respondent rates one brand; their latent view of each attribute is the brand's mean plus
  a personal halo (shared by all attributes, N(0, ``halo``²)) plus noise (N(0, ``noise``²)),
  rounded and clipped to the scale — the observed ratings;
- the overall rating is ``intercept + Σ weight_a × rating_a + N(0, overall_noise²)``,
  rounded and clipped: the true *importance weights* are ``weights`` (they sum to 1, so they
  are also the normalised importance a regression of overall on the ratings should recover);
- stated importance: the true weight times the number of attributes, plus noise, on the scale;
- NPS (0–10) follows the latent overall rating;
- satisfaction and dropout are linked: a respondent who is our customer (ids and true
  dropout probabilities from the simulated shop) gets a halo lowered by ``dropout_link`` per
  standard deviation of the logit of their true dropout probability, so less satisfied
  customers are the ones more likely to leave (a known, one-directional link);
- a B2B slice: for each business customer (``customer_type`` reseller in the shop), ratings
  1–5 of the qualitative potential factors, drawn independently (``b2b_ratings.csv``) and a
  weights file (``b2b_weights.yaml``).

Everything is vectorised numpy on a ``numpy.random.Generator`` from the seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from patron.errors import UsageError

__all__ = [
    "B2B_FACTORS",
    "SurveyParams",
    "SurveyResult",
    "draw_survey",
    "simulate_survey",
    "true_fix_order",
]

#: The qualitative factors of a business customer's potential (rated 1–5 by the user).
B2B_FACTORS = (
    "company_size",
    "growth",
    "competitive_situation",
    "supplier_management",
    "economic_dependence",
)


@dataclass(frozen=True)
class SurveyParams:
    """The true state of the simulated market (ratings on a 1–5 scale)."""

    attributes: tuple[str, ...] = ("quality", "service", "delivery", "range", "price")
    #: True importance: overall rating points per rating point of each attribute (sum 1).
    weights: tuple[float, ...] = (0.35, 0.25, 0.20, 0.12, 0.08)
    brands: tuple[str, ...] = ("ours", "Rival A", "Rival B")
    #: True mean rating per brand (rows, in ``brands`` order) and attribute (columns).
    performance: tuple[tuple[float, ...], ...] = (
        (3.3, 3.9, 3.1, 3.3, 3.6),
        (3.9, 3.5, 3.6, 3.6, 3.3),
        (3.6, 3.6, 3.4, 3.65, 3.5),
    )
    #: Change of our true mean per attribute from the second wave on.
    wave_shift: tuple[float, ...] = (0.0, 0.0, 0.4, 0.0, 0.0)
    respondents: int = 300
    halo: float = 0.4
    noise: float = 0.8
    intercept: float = 0.0
    overall_noise: float = 0.45
    importance_noise: float = 0.6
    dropout_link: float = 0.5
    scale: tuple[int, int] = (1, 5)
    segments: tuple[str, ...] = ("private", "business")

    def __post_init__(self) -> None:
        k = len(self.attributes)
        if len(self.weights) != k or len(self.wave_shift) != k:
            raise UsageError("weights and wave_shift need one value per attribute.")
        if len(self.performance) != len(self.brands) or any(
            len(row) != k for row in self.performance
        ):
            raise UsageError("performance needs one row per brand, one value per attribute.")
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise UsageError("weights must sum to 1 (they are the normalised importance).")
        if self.respondents < 2:
            raise UsageError(f"respondents must be at least 2, got {self.respondents}.")


@dataclass
class SurveyResult:
    """What :func:`simulate_survey` wrote."""

    responses: Path
    rows: int
    truth: Path
    b2b_ratings: Path | None = None
    b2b_weights: Path | None = None
    files: list[Path] = field(default_factory=list)


def _clip_round(x: np.ndarray, low: int, high: int) -> np.ndarray:
    return np.asarray(np.clip(np.rint(x), low, high), dtype=float)


def draw_survey(
    rng: np.random.Generator,
    params: SurveyParams,
    *,
    wave: int = 0,
    halo_shift: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One wave's responses as arrays (``params.respondents`` per brand).

    Parameters
    ----------
    rng
        The random generator.
    params
        The true market.
    wave
        0 for the first wave; from 1 on our performance includes ``wave_shift``.
    halo_shift
        Per brand, a shift of each respondent's halo (length ``respondents``): how the
        satisfaction–dropout link enters.

    Returns
    -------
    dict
        ``brand`` (names), ``ratings`` (n × k), ``importance`` (n × k), ``overall``, ``nps``,
        ``latent_overall`` (before rounding).
    """
    low, high = params.scale
    n, k = params.respondents, len(params.attributes)
    perf = np.array(params.performance, dtype=float)
    if wave >= 1:
        perf[0] = perf[0] + np.array(params.wave_shift)
    brand_idx = np.repeat(np.arange(len(params.brands)), n)
    halo = rng.normal(0.0, params.halo, size=brand_idx.size)
    if halo_shift:
        for b, name in enumerate(params.brands):
            if name in halo_shift:
                halo[brand_idx == b] += halo_shift[name]
    latent = perf[brand_idx] + halo[:, None] + rng.normal(0.0, params.noise, (brand_idx.size, k))
    ratings = _clip_round(latent, low, high)
    w = np.array(params.weights)
    y = params.intercept + ratings @ w + rng.normal(0.0, params.overall_noise, brand_idx.size)
    overall = _clip_round(y, low, high)
    importance = _clip_round(
        w * k * (high + low) / 2 + rng.normal(0.0, params.importance_noise, (brand_idx.size, k)),
        low,
        high,
    )
    nps = np.clip(np.rint((y - low) / (high - low) * 10 + rng.normal(0, 1.2, y.size)), 0, 10)
    return {
        "brand": np.array(params.brands)[brand_idx],
        "ratings": ratings,
        "importance": importance,
        "overall": overall,
        "nps": nps,
        "latent_overall": y,
    }


def true_fix_order(params: SurveyParams, *, wave: int = 0) -> list[str]:
    """The attributes to fix first by the truth: behind the best competitor, by weight × gap.

    The gap is our true mean minus the best competitor's (negative: behind); the order is by
    ``weight × gap`` (the overall-rating points the gap costs), largest loss first.
    """
    perf = np.array(params.performance, dtype=float)
    if wave >= 1:
        perf[0] = perf[0] + np.array(params.wave_shift)
    gap = perf[0] - perf[1:].max(axis=0)
    loss = np.array(params.weights) * gap
    behind = [i for i in np.argsort(loss) if gap[i] < 0]
    return [params.attributes[i] for i in behind]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)), dtype=float)


def simulate_survey(
    out: Path,
    *,
    seed: int = 0,
    params: SurveyParams | None = None,
    waves: tuple[str, ...] = ("2025-03-01", "2025-09-01"),
    customers: pa.Table | None = None,
    business: pa.Table | None = None,
) -> SurveyResult:
    """Write simulated survey waves (``responses.csv``) and their truth.

    Parameters
    ----------
    out
        Folder to write into (created if needed).
    seed
        Seed of the random generator (same seed, same files).
    params
        The true market; defaults to :class:`SurveyParams`.
    waves
        Wave labels (dates), one survey each.
    customers
        Optional ``customer_id``, ``dropout_probability`` and ``segment`` of the shop's
        customers (its ``truth.parquet``): our respondents are drawn from them, and their
        satisfaction is linked to their true dropout probability.
    business
        Optional ``customer_id`` of business customers: a B2B slice with factor ratings is
        written for them (``b2b_ratings.csv``, ``b2b_weights.yaml``).

    Returns
    -------
    SurveyResult
    """
    params = params or SurveyParams()
    if not waves:
        raise UsageError("waves must name at least one survey wave.")
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n = params.respondents
    parts: list[pa.Table] = []
    for w, label in enumerate(waves):
        ids = np.full(n * len(params.brands), "", dtype=object)
        segment = rng.choice(np.array(params.segments), size=n * len(params.brands))
        shift = None
        if customers is not None and customers.num_rows >= n:
            pick = rng.choice(customers.num_rows, size=n, replace=False)
            pdrop = np.asarray(customers.column("dropout_probability").to_numpy())[pick]
            z = _logit(pdrop)
            z = (z - z.mean()) / (z.std() or 1.0)
            shift = {params.brands[0]: -params.dropout_link * z}
            ids[:n] = np.asarray(customers.column("customer_id").to_pylist(), dtype=object)[pick]
            if "segment" in customers.column_names:
                segment = segment.astype(object)
                segment[:n] = np.asarray(customers.column("segment").to_pylist(), dtype=object)[
                    pick
                ]
        drawn = draw_survey(rng, params, wave=w, halo_shift=shift)
        columns: dict[str, object] = {
            "customer_id": pa.array([i or None for i in ids], pa.string()),
            "wave": pa.array([label] * ids.size, pa.string()),
            "brand": pa.array(drawn["brand"], pa.string()),
            "segment": pa.array(segment.tolist(), pa.string()),
            "overall": drawn["overall"].astype(np.int64),
            "nps": drawn["nps"].astype(np.int64),
        }
        for j, attribute in enumerate(params.attributes):
            columns[f"rating_{attribute}"] = drawn["ratings"][:, j].astype(np.int64)
        for j, attribute in enumerate(params.attributes):
            columns[f"importance_{attribute}"] = drawn["importance"][:, j].astype(np.int64)
        parts.append(pa.table(columns))
    table = pa.concat_tables(parts)
    responses = out / "responses.csv"
    pcsv.write_csv(table, responses)
    truth = out / "survey_truth.json"
    truth.write_text(
        json.dumps(
            {
                **asdict(params),
                "waves": list(waves),
                "fix_first": {
                    label: true_fix_order(params, wave=w) for w, label in enumerate(waves)
                },
                "note": "weights are the true normalised importance; performance the true mean "
                "rating per brand (rows) and attribute; wave_shift moves ours from wave 2 on; "
                "our respondents' halo is lowered by dropout_link per standard deviation of the "
                "logit of their true dropout probability.",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    result = SurveyResult(responses, table.num_rows, truth, files=[responses, truth])
    if business is not None and business.num_rows:
        ids_b = business.column("customer_id").to_pylist()
        ratings = rng.integers(1, 6, size=(len(ids_b), len(B2B_FACTORS)))
        b2b = pa.table(
            {"customer_id": pa.array(ids_b, pa.string())}
            | {f: ratings[:, j].astype(np.int64) for j, f in enumerate(B2B_FACTORS)}
        )
        result.b2b_ratings = out / "b2b_ratings.csv"
        pcsv.write_csv(b2b, result.b2b_ratings)
        result.b2b_weights = out / "b2b_weights.yaml"
        result.b2b_weights.write_text(
            "# Weights of a business customer's potential (sum to 1).\n"
            "monetary: 0.4\n"
            "company_size: 0.15\n"
            "growth: 0.15\n"
            "competitive_situation: 0.1\n"
            "supplier_management: 0.1\n"
            "economic_dependence: 0.1\n",
            encoding="utf-8",
        )
        result.files += [result.b2b_ratings, result.b2b_weights]
    return result
