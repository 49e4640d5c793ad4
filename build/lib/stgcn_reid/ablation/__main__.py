"""``python -m stgcn_reid.ablation``."""

import sys

from stgcn_reid.ablation.cli import main

sys.exit(main())
