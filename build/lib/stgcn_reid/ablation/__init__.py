"""The paper's ablations (Tables 3-4, Figures 5-8) on the synthetic benchmark, as one command.

``python -m stgcn_reid.ablation [--budget quick|full|smoke] [--seeds 0 1 2]
[--study variants|sweeps|all] [--variants baseline stgcn ...] [--out docs/results.md]
[--log-dir logs/ablation] [--dataset synthetic_hard] [--data-dir DIR] [--report-only]``

Every run is a ``python -m stgcn_reid.train`` subprocess with Hydra overrides (the variants and
sweeps of :mod:`~stgcn_reid.ablation.study`); finished runs are skipped, so an interrupted study
resumes (:mod:`~stgcn_reid.ablation.runner`). Table 3's "Ensemble" is computed from two runs'
saved test features (:mod:`~stgcn_reid.ablation.results`). The report gives mean ± std over
seeds beside the paper's MARS / DukeMTMC numbers (:mod:`~stgcn_reid.ablation.report`), with
CMC, ranked-results, Grad-CAM and adjacency pictures (:mod:`~stgcn_reid.ablation.pictures`).
"""

from stgcn_reid.ablation.example import ExampleClip, occluded_example, synthetic_occlusions
from stgcn_reid.ablation.pictures import draw_pictures, explain_clip
from stgcn_reid.ablation.results import (
    FeatureSet,
    Scores,
    StudyResults,
    collect_results,
    ensemble_scores,
    load_features,
)
from stgcn_reid.ablation.runner import Run, execute, plan_runs
from stgcn_reid.ablation.study import BUDGETS, SWEEPS, VARIANTS, Budget, Sweep, Variant

__all__ = [
    "BUDGETS",
    "SWEEPS",
    "VARIANTS",
    "Budget",
    "ExampleClip",
    "FeatureSet",
    "Run",
    "Scores",
    "StudyResults",
    "Sweep",
    "Variant",
    "collect_results",
    "draw_pictures",
    "ensemble_scores",
    "execute",
    "explain_clip",
    "load_features",
    "occluded_example",
    "plan_runs",
    "synthetic_occlusions",
]
