from __future__ import annotations

import numpy as np

from stockmesh.planning.forecast.classify import classify_demand


def test_syntetos_boylan_classes_on_constructed_series() -> None:
    smooth = [10, 11, 9, 10, 12, 10, 9, 11, 10, 10, 11, 9]
    erratic = [1, 20, 2, 30, 1, 25, 3, 18, 1, 40, 2, 22]
    intermittent = [0, 0, 5, 0, 0, 5, 0, 0, 6, 0, 0, 5]
    lumpy = [0, 0, 1, 0, 0, 40, 0, 0, 2, 0, 0, 30]
    never_sold = [0] * 12
    classes = classify_demand(np.array([smooth, erratic, intermittent, lumpy, never_sold], dtype=float))
    assert list(classes.names()) == ["smooth", "erratic", "intermittent", "lumpy", "intermittent"]
    assert classes.adi[2] == 12 / 4
    assert np.isinf(classes.adi[4])


def test_adi_of_exactly_1_32_is_intermittent_and_nan_cells_are_not_periods() -> None:
    # 33 observed periods with 25 demands: ADI = 1.32 exactly. The leading NaN (the series had not
    # started) is not a period.
    pattern = [4.0] * 25 + [0.0] * 8
    series = np.array([[np.nan, *pattern]])
    classes = classify_demand(series)
    assert classes.adi[0] == 1.32
    assert classes.cv2[0] == 0.0
    assert list(classes.names()) == ["intermittent"]
