"""An exact, event-driven tempotron in plain numpy: the reference for tests/test_tempotron.py.

Written from Gütig & Sompolinsky (2006) and tests/data/tempotron.json, without any brainlz code.

Between two consecutive input spikes ``e_k < e_{k+1}`` the potential is exactly

    V(e_k + s) = A_k exp(-s / tau) - B_k exp(-s / tau_s),
    A_k = V0 sum_{t_i <= e_k} w_i exp(-(e_k - t_i) / tau),  B_k = V0 sum_{t_i <= e_k} w_i exp(-(e_k - t_i) / tau_s),

which has at most one stationary point, ``s* = ln(B_k tau / (A_k tau_s)) / (1/tau_s - 1/tau)``.  The maximum of V
over the trial is therefore found exactly among the spike times, these stationary points and the trial end; the
first threshold crossing is found by bisection (``scipy.optimize.brentq``) on a segment where V is monotone.  After
the first crossing the input is shunted: the trial's ``t_max`` is the crossing time.
"""

import math

import numpy as np
from scipy.optimize import brentq


def kernel_constants(tau, tau_s):
    """(V0, t_peak) of K(t) = V0 (exp(-t/tau) - exp(-t/tau_s)) with peak 1; times in seconds."""
    t_peak = math.log(tau / tau_s) / (1.0 / tau_s - 1.0 / tau)
    v0 = 1.0 / (math.exp(-t_peak / tau) - math.exp(-t_peak / tau_s))
    return v0, t_peak


def kernel(t, tau, tau_s):
    v0, _ = kernel_constants(tau, tau_s)
    t = np.asarray(t, dtype=float)
    return np.where(t > 0, v0 * (np.exp(-np.clip(t, 0, None) / tau) - np.exp(-np.clip(t, 0, None) / tau_s)), 0.0)


def kernel_slope_bound(tau, tau_s):
    """max |K'(t)| = K'(0+) = V0 (1/tau_s - 1/tau), per second."""
    v0, _ = kernel_constants(tau, tau_s)
    return v0 * (1.0 / tau_s - 1.0 / tau)


def kernel_curvature_bound(tau, tau_s):
    """max |K''(t)| = |K''(0+)| = V0 (1/tau_s^2 - 1/tau^2), per second squared."""
    v0, _ = kernel_constants(tau, tau_s)
    return v0 * (1.0 / tau_s ** 2 - 1.0 / tau ** 2)


def run_trial(times, afferents, weights, duration, tau, tau_s, theta):
    """One trial of one tempotron, exactly.

    Parameters
    ----------
    times : float array [n_spikes]
        Input spike times in seconds from the trial start.
    afferents : int array [n_spikes]
        Afferent of each spike.
    weights : float array [n_afferents]
    duration : float
        Trial length in seconds.
    tau, tau_s, theta : float

    Returns
    -------
    dict
        ``fired`` (bool), ``t_max`` (s), ``v_max`` (threshold if fired), ``kernel_sums`` (float [n_afferents],
        sum over the afferent's spikes before t_max of K(t_max - t_i)).
    """
    v0, _ = kernel_constants(tau, tau_s)
    order = np.argsort(times, kind="stable")
    times = np.asarray(times, dtype=float)[order]
    afferents = np.asarray(afferents)[order]
    event_times = np.unique(times)
    best_v, best_t = 0.0, 0.0          # V = 0 on [0, first spike]
    fired = False
    a_tr = b_tr = 0.0                  # V0-weighted traces at the current event time
    last = 0.0
    bounds = list(event_times) + [duration]
    for k, e in enumerate(event_times):
        decay = e - last
        a_tr *= math.exp(-decay / tau)
        b_tr *= math.exp(-decay / tau_s)
        w_sum = float(np.sum(weights[afferents[times == e]]))
        a_tr += v0 * w_sum
        b_tr += v0 * w_sum
        last = e
        end = bounds[k + 1]
        length = end - e
        if length <= 0:
            continue

        def v(s, a=a_tr, b=b_tr):
            return a * math.exp(-s / tau) - b * math.exp(-s / tau_s)

        points = [0.0]
        if a_tr != 0.0 and b_tr / a_tr > 0:
            s_star = math.log(b_tr * tau / (a_tr * tau_s)) / (1.0 / tau_s - 1.0 / tau)
            if 0.0 < s_star < length:
                points.append(s_star)
        points.append(length)
        # threshold crossing on the monotone pieces between consecutive points
        for s0, s1 in zip(points[:-1], points[1:]):
            if v(s0) < theta <= v(s1):
                crossing = brentq(lambda s: v(s) - theta, s0, s1, xtol=1e-15, rtol=1e-15)
                best_v, best_t, fired = theta, e + crossing, True
                break
            if v(s1) > best_v:
                best_v, best_t = v(s1), e + s1
        if fired:
            break
    before = times < best_t
    sums = np.zeros(len(weights))
    np.add.at(sums, afferents[before], kernel(best_t - times[before], tau, tau_s))
    return {"fired": fired, "t_max": best_t, "v_max": best_v, "kernel_sums": sums}


def raster_to_events(raster, dt):
    """``bool[n_afferents, n_bins]`` -> (times in s, afferent indices)."""
    afferent, step = np.nonzero(raster)
    return step * dt, afferent


def update(result, weights, target, learning_rate, momentum=0.0, previous=None):
    """Weight change of the tempotron rule for one trial: +lambda*K if a target did not fire, -lambda*K if a null
    pattern fired, 0 otherwise; with momentum, an error's change also adds ``momentum * previous`` (the previous
    applied change of each synapse)."""
    previous = np.zeros_like(weights) if previous is None else previous
    if target and not result["fired"]:
        return learning_rate * result["kernel_sums"] + momentum * previous
    if not target and result["fired"]:
        return -learning_rate * result["kernel_sums"] + momentum * previous
    return np.zeros_like(weights)
