"""Power-law fits of study results: log y = a + b log x by least squares, with a 95% interval."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats


@dataclass
class PowerFit:
    slope: float
    intercept: float
    stderr: float
    ci_low: float
    ci_high: float
    points: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 10.0 ** (self.intercept + self.slope * np.log10(x))


def fit_power_law(x, y) -> Optional[PowerFit]:
    """Fit y ∝ x^slope on positive, finite pairs; None with fewer than 3 points or one x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = np.log10(x[ok]), np.log10(y[ok])
    if x.size < 3 or np.ptp(x) == 0:
        return None
    r = stats.linregress(x, y)
    t = stats.t.ppf(0.975, x.size - 2)
    se = float(r.stderr) if math.isfinite(r.stderr) else 0.0
    return PowerFit(float(r.slope), float(r.intercept), se, float(r.slope - t * se), float(r.slope + t * se), int(x.size))
