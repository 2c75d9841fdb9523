"""Detection: what is wrong, computed from each snapshot. Threshold rules (rules.py) over raw
values, counter rates (rates.py), forecasts (forecast.py) and derived series (derived.py); learned
baselines: the per-series detector (pattern.py, boxes.py) and the anomaly scores of the selected
series (anomaly_scores.py); baseline.py is the previous detector, kept for benchmarks. The alert
lifecycle that acts on the results lives in alerting/."""
