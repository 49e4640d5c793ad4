"""What the study runs: the variants of Tables 3-4, the sweeps of Figures 7-8, the budgets.

Every variant and sweep point is a set of Hydra overrides of ``python -m stgcn_reid.train``;
the paper's numbers (MARS and DukeMTMC-VideoReID, Tables 3-4) sit beside each variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from omegaconf import OmegaConf

from stgcn_reid.utils.config import CONFIG_DIR


@dataclass(frozen=True)
class PaperScores:
    """mAP and rank-1 (%) of the paper on MARS and DukeMTMC-VideoReID (Tables 3-4)."""

    mars_map: float
    mars_rank1: float
    duke_map: float
    duke_rank1: float


@dataclass(frozen=True)
class Variant:
    """One row of Tables 3-4 (or a diagnostic, with no paper row): a model configuration given
    as Hydra overrides."""

    key: str
    label: str
    overrides: tuple[str, ...]
    paper: PaperScores | None


#: Table 4 in the paper's row order (Table 3 repeats four of its rows).
VARIANTS: tuple[Variant, ...] = (
    Variant(
        "baseline",
        "Baseline (only global branch)",
        ("model.branches=[global]",),
        PaperScores(80.76, 88.74, 94.08, 96.01),
    ),
    Variant(
        "tfcn_global",
        "TFCN+global",
        ("model.branches=[global,temporal]", "model.temporal.graph=false"),
        PaperScores(80.62, 88.28, 94.34, 96.15),
    ),
    Variant(
        "tgcn_global",
        "TGCN+global",
        ("model.branches=[global,temporal]",),
        PaperScores(81.97, 89.70, 95.12, 96.87),
    ),
    Variant(
        "sfcn_global",
        "SFCN+global",
        ("model.branches=[global,spatial]", "model.spatial.graph=false"),
        PaperScores(81.10, 89.39, 94.28, 95.30),
    ),
    Variant(
        "sgcn_global",
        "SGCN+global",
        ("model.branches=[global,spatial]",),
        PaperScores(82.17, 89.80, 94.55, 96.44),
    ),
    Variant(
        "tfcn_sgcn_global",
        "TFCN+SGCN+global",
        ("model.temporal.graph=false",),
        PaperScores(81.51, 89.24, 95.62, 97.15),
    ),
    Variant(
        "tgcn_sfcn_global",
        "TGCN+SFCN+global",
        ("model.spatial.graph=false",),
        PaperScores(82.65, 89.90, 95.24, 96.30),
    ),
    Variant(
        "tfcn_sfcn_global",
        "TFCN+SFCN+global",
        ("model.temporal.graph=false", "model.spatial.graph=false"),
        PaperScores(82.27, 88.94, 95.03, 96.15),
    ),
    Variant(
        "stgcn",
        "STGCN (SGCN+TGCN+global)",
        ("model.branches=[global,temporal,spatial]",),
        PaperScores(83.70, 89.95, 95.70, 97.29),
    ),
)
VARIANT_KEYS: tuple[str, ...] = tuple(v.key for v in VARIANTS)
#: Models that are not rows of the paper but measure why a row scores as it does: STGCN with
#: the graph branches' gradient stopped at the backbone (they train on its features without
#: shaping them), to compare with STGCN (do their losses help or hurt the shared features?).
DIAGNOSTICS: tuple[Variant, ...] = (
    Variant(
        "stgcn_graphs_stopped",
        "STGCN, graphs' gradient stopped",
        ("model.branches=[global,temporal,spatial]", "model.stop_gradient=[temporal,spatial]"),
        None,
    ),
)
#: Table 3's rows; "ensemble" is computed from two trained variants, not trained itself.
TABLE3_KEYS: tuple[str, ...] = ("baseline", "tgcn_global", "sgcn_global", "ensemble", "stgcn")
#: Table 3's "Ensemble": score sum of these two models' test distances (same seed).
ENSEMBLE_MEMBERS: tuple[str, str] = ("sgcn_global", "tgcn_global")
ENSEMBLE_LABEL = "Ensemble (SGCN+global, TGCN+global)"
PAPER_ENSEMBLE = PaperScores(82.67, 89.55, 94.64, 96.15)
#: Figures 5 and 6 compare these two models (of the first seed), with these row labels.
PICTURE_MODELS: dict[str, str] = {"baseline": "baseline", "stgcn": "STGCN"}
#: The test protocol of the training runs' final test (conf/data/default.yaml), and the
#: ``(split, sampling)`` evaluations of every variant run's tested checkpoint after it: both
#: whole-tracklet protocols on the validation split (the choice of the default protocol rests
#: on these). The other protocol on the test split (a whole test pass, as long as the final
#: test) is scored for the first seed only: :data:`FIRST_SEED_EVALS`.
DEFAULT_TEST_SAMPLING = "strided"
PROTOCOL_EVALS: tuple[tuple[str, str], ...] = (("val", "strided"), ("val", "consecutive"))
FIRST_SEED_EVALS: tuple[tuple[str, str], ...] = (("test", "consecutive"),)


@dataclass(frozen=True)
class Sweep:
    """One panel of Figures 7-8: ``option`` over ``values``, with the ``fixed`` settings."""

    key: str
    option: str
    values: tuple[int, ...]
    fixed: Mapping[str, int]
    paper_note: str


#: Section 4.6: M with K = 2; K with M = 4; P_t with P_s = 4; P_s with P_t = 4.
SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "M",
        "model.tgcn_layers",
        (2, 3, 4, 5, 6),
        {"model.sgcn_layers": 2},
        "Paper (MARS, Fig. 7a): best mAP 83.70 at M = 3, best rank-1 90.35 at M = 4",
    ),
    Sweep(
        "K",
        "model.sgcn_layers",
        (1, 2, 3, 4),
        {"model.tgcn_layers": 4},
        "Paper (MARS, Fig. 7b): best at K = 2",
    ),
    Sweep(
        "P_t",
        "model.tgcn_patches",
        (2, 4, 8),
        {"model.sgcn_patches": 4},
        "Paper (MARS, Fig. 8a): best at P_t = 4",
    ),
    Sweep(
        "P_s",
        "model.sgcn_patches",
        (2, 4, 8),
        {"model.tgcn_patches": 4},
        "Paper (MARS, Fig. 8b): best at P_s = 4",
    ),
)
SWEEP_KEYS: tuple[str, ...] = tuple(s.key for s in SWEEPS)
#: The paper's symbol of each swept option.
SYMBOLS: dict[str, str] = {
    "model.tgcn_layers": "M",
    "model.sgcn_layers": "K",
    "model.tgcn_patches": "P_t",
    "model.sgcn_patches": "P_s",
}


@dataclass(frozen=True)
class Budget:
    """Hydra overrides shared by every run of a budget: ``variants`` for Tables 3-4,
    ``sweeps`` for Figures 7-8 (a reduced budget), ``eval`` for the feature extraction;
    ``sweep_values`` replaces the values of some sweeps (by key) where the input is too small
    for them, and ``sweep_note`` says why in the report."""

    variants: tuple[str, ...]
    sweeps: tuple[str, ...]
    eval: tuple[str, ...] = ()
    sweep_values: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    sweep_note: str = ""


# The one place to tune the study. A run costs, per epoch, `ids x K x T` training frames
# (synthetic_hard: 150 x 4 x T), a validation of ~380 x T frames every check_val_every_n_epoch,
# and one test of ~9,700 frames (all frames, in clips of T). Measured on 2 quiet cores for the
# ResNet-18 STGCN at T = 4: 14 s per epoch at 64 x 32 and about 35 s of start-up and test per
# run (two runs side by side, one thread each: 33 s per epoch each); 128 x 64 costs about 4.5
# times as much.
_QUICK_COMMON = ("data.seq_len=4", "data.height=64", "data.width=32")
_GPU_COMMON = (
    "trainer=gpu",
    "data.seq_len=8",
    "data.height=256",
    "data.width=128",
    "data.num_identities=16",
    "data.num_instances=4",
    "data.num_workers=8",
    "trainer.check_val_every_n_epoch=20",
    # the host reads the loss every few steps only (as experiment=paper does)
    "callbacks.progress_bar.refresh_rate=20",
    "callbacks.nonfinite_loss.check_every_n_steps=50",
)
BUDGETS: dict[str, Budget] = {
    # Tests and debugging: the tiny set of experiment=smoke, one epoch. The sweeps need an
    # input height of 128 (8 feature rows at stride 16) for P = 8.
    "smoke": Budget(
        variants=("experiment=smoke", "trainer.max_epochs=1"),
        sweeps=("experiment=smoke", "trainer.max_epochs=1", "data.height=128", "data.width=64"),
        eval=("data.num_workers=0",),
    ),
    # CPU-sized (about 2 h on 2 cores with --jobs 2): T = 4 and 64 x 32 input, 16 epochs for
    # Tables 3-4 and 8 for the sweeps. 64 x 32 gives 4 feature rows, so P = 8 is left out.
    "quick": Budget(
        variants=(
            *_QUICK_COMMON,
            "trainer.max_epochs=16",
            "trainer.check_val_every_n_epoch=4",
            "optim.scheduler.step_size=12",
        ),
        sweeps=(
            *_QUICK_COMMON,
            "trainer.max_epochs=8",
            "trainer.check_val_every_n_epoch=4",
            "optim.scheduler.step_size=6",
        ),
        sweep_values={"P_t": (2, 4), "P_s": (2, 4)},
        sweep_note="P = 8 needs 8 feature rows (a 128-pixel-high input): budget `full` runs it",
    ),
    # The study at the paper's input on one GPU (H100/H200): T = 8, 256 x 128 (a 16 x 8 map, so
    # P = 8 stripes of 2 rows), P x K = 16 x 4, bf16. Sized, not measured (no GPU was lent to
    # the sessions that wrote it): an epoch of synthetic_hard is 150 ids x 4 x 8 = 4,800 frames,
    # ~10 steps, a few seconds at ResNet-18's GPU throughput, and the test ~41,000 frames; so
    # 120 epochs plus 6 validations and the test stay well under 10 min a run where 8 loader
    # workers keep up. Start from pretrained weights, appended to every run:
    #   python -m stgcn_reid.ablation --budget gpu backbone.weights_path=<weights.pt>
    "gpu": Budget(
        variants=(*_GPU_COMMON, "trainer.max_epochs=120", "optim.scheduler.step_size=80"),
        sweeps=(*_GPU_COMMON, "trainer.max_epochs=60", "optim.scheduler.step_size=40"),
    ),
    # The paper's recipe, experiment=paper (ResNet-50 with last stride 1, 256 x 128, T = 8,
    # P x K = 16 x 4, Adam 3e-4 divided by 10 every 200 epochs, 800 epochs, a GPU), on the
    # benchmark's own validation split. ImageNet weights cannot be fetched offline, so the
    # backbone starts from random weights unless backbone.weights_path is added.
    "full": Budget(
        variants=("experiment=paper", "backbone.weights=null", "data.val_split=dataset"),
        sweeps=("experiment=paper", "backbone.weights=null", "data.val_split=dataset"),
    ),
}
STUDIES: tuple[str, ...] = ("variants", "sweeps", "all")


def model_defaults() -> dict[str, int]:
    """M, K, P_t and P_s of ``conf/model/stgcn.yaml`` (each sweep varies one of them)."""
    model = OmegaConf.load(CONFIG_DIR / "model" / "stgcn.yaml")
    return {option: int(model[option.removeprefix("model.")]) for option in SYMBOLS}


def sweep_setting(sweep: Sweep, value: int) -> dict[str, int]:
    """The full (M, K, P_t, P_s) of one point of ``sweep``."""
    return {**model_defaults(), **sweep.fixed, sweep.option: value}


def point_name(setting: Mapping[str, int]) -> str:
    """``M3_K2_Pt4_Ps4`` for a full sweep setting (the run directory name)."""
    return "_".join(f"{symbol.replace('_', '')}{setting[o]}" for o, symbol in SYMBOLS.items())


def sweep_values(sweep: Sweep, budget: str) -> tuple[int, ...]:
    """The values of ``sweep`` that ``budget`` runs."""
    return BUDGETS[budget].sweep_values.get(sweep.key, sweep.values)


def sweep_points(budget: str, sweeps: Iterable[Sweep] = SWEEPS) -> dict[str, dict[str, int]]:
    """Every distinct setting of the sweeps of ``budget`` by name: points shared by two sweeps
    (M = 4, K = 2 and P_t = P_s = 4) run once."""
    points: dict[str, dict[str, int]] = {}
    for sweep in sweeps:
        for value in sweep_values(sweep, budget):
            setting = sweep_setting(sweep, value)
            points.setdefault(point_name(setting), setting)
    return points
