"""Learning rules behind one contract, found through one registry.

A rule is built from a protocol's ``learning`` dict and trains a network on a training set::

    rule = make_rule({"rule": "stdp", "A_plus": 0.01, "epochs": 2})
    new_spec, history = rule.train(spec, train_set, backend="standalone", seed=0)

``train`` returns a new :class:`~brainlz.network.NetworkSpec` and a JSON-ready history dict; it never changes
``spec``.  :data:`RULES` maps rule names to their classes; :func:`register_rule` adds a user's rule (a subclass
of :class:`Rule` in a file of its own, imported before the protocol runs).

``learning["intrinsic"]`` asks for the intrinsic parameters to be learned too.  The surrogate rule learns them
itself, jointly with the weights, by the twin's exact gradient; any other rule is wrapped in :class:`OuterLoop`,
which moves the intrinsic parameters by SPSA around the rule's own training (:mod:`brainlz.learning.intrinsic`)
through the rule's :meth:`Rule.inner_trainer`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..backends import get_backend, training_device
from ..errors import ParameterError
from ..files import jsonable

__all__ = ["Rule", "RULES", "register_rule", "make_rule", "OuterLoop", "STDP", "Tempotron", "Surrogate",
           "INTRINSIC_OPTIONS"]

#: Options of ``learning["intrinsic"]`` for the outer loop (:func:`brainlz.learning.intrinsic.train_with_intrinsic`).
INTRINSIC_OPTIONS = ("layers", "parameters", "per_neuron", "outer_steps", "method", "step_size", "perturbation",
                     "objective", "objective_options", "final_inner", "stability", "validation_fraction",
                     "restart_inner", "select", "refit", "bounds", "max_step", "scale", "max_silent_fraction")

#: Rule name -> :class:`Rule` subclass.
RULES: dict = {}


def register_rule(cls):
    """Class decorator: make a :class:`Rule` subclass available to protocols as ``learning={"rule": cls.name}``."""
    if not (isinstance(cls, type) and issubclass(cls, Rule)) or not isinstance(cls.name, str) or not cls.name:
        raise ParameterError("rule", cls, "expected a Rule subclass with a non-empty name")
    RULES[cls.name] = cls
    return cls


class Rule:
    """A learning rule: ``Rule(options)`` then :meth:`train`.

    Parameters
    ----------
    options : dict
        The protocol's ``learning`` dict without ``rule``, ``tune`` and ``intrinsic`` (checked when training,
        where the network is known).
    """

    #: The name protocols use (``learning={"rule": name}``).
    name: str = ""
    #: Whether the rule learns intrinsic parameters itself (else :class:`OuterLoop` wraps it).
    learns_intrinsic: bool = False

    def __init__(self, options: dict, intrinsic: dict | None = None):
        self.options = dict(options)
        self.intrinsic = intrinsic

    def train(self, spec, train_set, *, backend: str = "runtime", backend_options=None, seed: int = 0,
              report=None):
        """Train ``spec`` on ``train_set`` (a :class:`~brainlz.data.SpikeDataset`) with the named backend.

        Returns
        -------
        (NetworkSpec, dict)
            The trained network and the history (plain JSON types).
        """
        raise NotImplementedError

    def inner_trainer(self, spec, backend: str = "runtime", backend_options=None):
        """The weight learning of one outer step of :func:`brainlz.learning.intrinsic.train_with_intrinsic`.

        Returns ``trainer(spec, train_set, seed) -> (new spec, summary dict)``.  By default :meth:`train` with
        the given backend, so that any registered rule can be wrapped in :class:`OuterLoop`; the built-in rules
        return shorter per-step summaries.
        """
        backend_options = dict(backend_options or {})

        def trainer(current, train_set, seed):
            return self.train(current, train_set, backend=backend, backend_options=backend_options, seed=seed)
        trainer.name = self.name  # recorded in the outer loop's history
        return trainer


def make_rule(learning: dict) -> Rule:
    """The rule of a protocol's ``learning`` dict (``{"rule": name, ...options, "intrinsic": {...}}``)."""
    options = dict(learning)
    name = options.pop("rule", None)
    options.pop("tune", None)  # handled by the protocol runner
    if name not in RULES:
        raise ParameterError("protocol.learning.rule", name, f"expected one of {tuple(RULES)}")
    intrinsic = options.pop("intrinsic", None)
    if intrinsic is not None and not isinstance(intrinsic, dict):
        raise ParameterError("protocol.learning.intrinsic", intrinsic, "expected a dict of options (or None)")
    cls = RULES[name]
    if intrinsic is None or cls.learns_intrinsic:
        return cls(options, intrinsic)
    return OuterLoop(cls(options), intrinsic)


@register_rule
class STDP(Rule):
    """:func:`brainlz.learning.stdp.train_stdp` on the input -> first-layer weights (unsupervised).

    Options: the :class:`~brainlz.learning.stdp.STDPRule` fields (``w_max`` defaults to 1.5 times the mean initial
    weight of that projection), ``epochs`` (default 1), ``gap``, ``between``, ``shuffle``.
    """

    name = "stdp"

    def _split(self, spec):
        from .stdp import STDPRule

        options = dict(self.options)
        epochs = options.pop("epochs", 1)
        fields = {f.name for f in dataclasses.fields(STDPRule)}
        rule_options = {k: options.pop(k) for k in list(options) if k in fields}
        if "w_max" not in rule_options:
            first = np.asarray(spec.weights[0])
            unit = spec.layers[0].neuron_model.weight_unit
            rule_options["w_max"] = 1.5 * max(float(np.mean(first)), 1e-30) * unit
        unknown = set(options) - {"gap", "between", "shuffle"}
        if unknown:
            raise ParameterError("protocol.learning", sorted(unknown), "unknown STDP options")
        return rule_options, epochs, options

    def _trainer_options(self, spec, backend, backend_options):
        """``(STDPRule, keyword arguments of train_stdp)`` on the backend's training device."""
        from .stdp import STDPRule

        rule_options, epochs, options = self._split(spec)
        device = training_device(backend, self.name)
        if device == "genn":  # every epoch one brian2genn build (the GeNN design, brainlz.backends.genn)
            options["genn_options"] = {key: value for key, value in backend_options.items()
                                       if key in ("env", "use_gpu", "genn_path", "timeout")}
        return STDPRule(**rule_options), dict(epochs=epochs, backend=device,
                                              target=backend_options.get("target", "cython"), **options)

    def inner_trainer(self, spec, backend="runtime", backend_options=None):
        from .stdp import train_stdp

        rule, options = self._trainer_options(spec, backend, dict(backend_options or {}))

        def trainer(current, train_set, seed):
            new_spec, history = train_stdp(current, train_set, rule, seed=seed, **options)
            last = {key: value for key, value in history.epochs[-1].items()
                    if key not in ("order", "output_counts", "spike_indices", "spike_times")}
            return new_spec, {"rule": "stdp", "epochs": len(history.epochs), **last}
        trainer.name = self.name  # recorded in the outer loop's history
        return trainer

    def train(self, spec, train_set, *, backend="runtime", backend_options=None, seed=0, report=None):
        from .stdp import train_stdp

        rule, options = self._trainer_options(spec, backend, dict(backend_options or {}))
        epochs = options["epochs"]
        new_spec, history = train_stdp(spec, train_set, rule, seed=seed, **options)
        summary = {"rule": "stdp", "epochs": epochs, "w_max": float(rule.w_max), "initial": history.initial,
                   "per_epoch": [{k: v for k, v in e.items() if k not in ("order", "output_counts", "spike_indices",
                                                                            "spike_times")}
                                 for e in history.epochs]}
        return new_spec, jsonable(summary)


@register_rule
class Tempotron(Rule):
    """:func:`brainlz.learning.tempotron.train_output_layer` on the last projection (supervised).

    Options: the :class:`~brainlz.learning.tempotron.TempotronParams` fields, ``epochs`` (default 20), ``init``,
    ``init_std``, ``discretised``.
    """

    name = "tempotron"

    def _split(self, backend, backend_options):
        from .tempotron import TempotronParams

        options = dict(self.options)
        epochs = options.pop("epochs", 20)
        fields = {f.name for f in dataclasses.fields(TempotronParams)}
        params = TempotronParams(**{k: options.pop(k) for k in list(options) if k in fields})
        unknown = set(options) - {"init", "init_std", "discretised"}
        if unknown:
            raise ParameterError("protocol.learning", sorted(unknown), "unknown tempotron options")
        device = training_device(backend, self.name)
        if device == "standalone":
            options["backend"] = "standalone"
        elif device == "genn":
            options.update(backend="genn", target="gpu" if backend_options.get("use_gpu", True) else "cpu")
        else:
            options.update(backend="runtime", target=backend_options.get("target", "cython"))
        return params, epochs, options

    def inner_trainer(self, spec, backend="runtime", backend_options=None):
        from .tempotron import train_output_layer

        params, epochs, options = self._split(backend, dict(backend_options or {}))
        keep = ("epochs", "converged", "final_accuracy", "accuracy", "builds", "wall_time")

        def trainer(current, train_set, seed):
            new_spec, history = train_output_layer(current, train_set, params, epochs=epochs, seed=seed, **options)
            return new_spec, {"rule": "tempotron", **{key: history[key] for key in keep if key in history}}
        trainer.name = self.name  # recorded in the outer loop's history
        return trainer

    def train(self, spec, train_set, *, backend="runtime", backend_options=None, seed=0, report=None):
        from .tempotron import train_output_layer

        params, epochs, options = self._split(backend, dict(backend_options or {}))
        new_spec, history = train_output_layer(spec, train_set, params, epochs=epochs, seed=seed, **options)
        summary = {k: v for k, v in history.items() if k not in ("weights", "scale", "trials")}
        return new_spec, jsonable({"rule": "tempotron", "epochs": epochs, "history": summary})


@register_rule
class Surrogate(Rule):
    """:func:`brainlz.learning.surrogate.train_surrogate`: backpropagation through time in the differentiable twin.

    Options: its keyword arguments (``learn``, ``shared``, ``epochs``, ``batch_size``, ``lr``, ``lr_intrinsic``,
    ``loss``, ...).  With ``intrinsic``, the intrinsic parameters (``intrinsic["parameters"]``, default all
    learnable ones) are learned jointly with the weights by the twin's exact gradient; the outer loop's settings
    (steps, SPSA gains) are for rules without gradients and do not apply (recorded as
    ``intrinsic_options_not_used``).
    """

    name = "surrogate"
    learns_intrinsic = True

    def inner_trainer(self, spec, backend="runtime", backend_options=None):
        """Weights only (``learn`` defaults to ``("weights",)``), for an outer loop that moves the intrinsic
        parameters itself (e.g. the twin objective's gradient)."""
        from .surrogate import train_surrogate

        options = self._options(None)

        def trainer(current, train_set, seed):
            new_spec, history = train_surrogate(current, train_set.spiketrains, train_set.labels, seed=seed,
                                                **options)
            summary = history.to_dict()
            return new_spec, {"rule": "surrogate", "epochs": len(summary["epochs"]),
                              "best_epoch": summary["best_epoch"],
                              "last": summary["epochs"][-1] if summary["epochs"] else None}
        trainer.name = self.name  # recorded in the outer loop's history
        return trainer

    def _options(self, intrinsic):
        """Keyword arguments of ``train_surrogate`` from the options (and ``intrinsic``), checked."""
        import inspect

        from .surrogate import train_surrogate

        options = dict(self.options)
        if intrinsic is not None:
            unknown = set(intrinsic) - set(INTRINSIC_OPTIONS) - {"shared"}
            if unknown:
                raise ParameterError("protocol.learning.intrinsic", sorted(unknown),
                                     f"unknown options; accepted: {', '.join(INTRINSIC_OPTIONS)}, shared")
            options["learn"] = ["weights"] + list(intrinsic.get("parameters") or ["intrinsic"])
            options["shared"] = bool(intrinsic.get("shared", not intrinsic.get("per_neuron", True)))
        accepted = set(inspect.signature(train_surrogate).parameters) - {"spec", "spiketrains", "labels", "seed",
                                                                           "callback", "progress"}
        unknown = set(options) - accepted
        if unknown:
            raise ParameterError("protocol.learning", sorted(unknown),
                                 f"unknown surrogate options; accepted: {', '.join(sorted(accepted))}")
        if isinstance(options.get("learn"), list):
            options["learn"] = tuple(options["learn"])
        return options

    def train(self, spec, train_set, *, backend="runtime", backend_options=None, seed=0, report=None):
        from .surrogate import train_surrogate

        intrinsic = self.intrinsic
        options = self._options(intrinsic)
        new_spec, history = train_surrogate(spec, train_set.spiketrains, train_set.labels, seed=seed, **options)
        summary = jsonable({"rule": "surrogate", **history.to_dict()})
        if intrinsic is not None:
            summary["intrinsic_options_not_used"] = sorted(set(intrinsic) - {"parameters", "per_neuron", "shared"})
        return new_spec, summary


class OuterLoop(Rule):
    """A rule inside the outer loop over intrinsic parameters (:mod:`brainlz.learning.intrinsic`).

    The training part is split (stratified) into the inner training samples and a validation part
    (``validation_fraction``, default 0.25) that scores the outer objective.  With ``refit`` (default True) the
    weights are then learned once more, from the initial weights, for the selected intrinsic parameters on the
    whole training part, with the rule's own seed: the same treatment the tuned baseline gives its chosen size and
    learning rate (chosen on a validation split, then trained on everything), so that the two arms of the paper
    grid learn their weights from the same samples.  Without it the learnable arm keeps the weights of the
    selected point, learned on the inner part only (75 % of the samples).

    Parameters
    ----------
    rule : Rule
        The inner rule (its :meth:`Rule.inner_trainer` is the weight learning of every outer step).
    intrinsic : dict
        Options of the outer loop (:data:`INTRINSIC_OPTIONS`).
    """

    def __init__(self, rule: Rule, intrinsic: dict):
        super().__init__(rule.options, intrinsic)
        self.rule = rule
        self.name = rule.name

    def train(self, spec, train_set, *, backend="runtime", backend_options=None, seed=0, report=None):
        from .intrinsic import SPACE_OPTIONS, OuterSearch, train_with_intrinsic

        backend_options = dict(backend_options or {})
        inner = self.rule.inner_trainer(spec, backend, backend_options)
        unknown = set(self.intrinsic) - set(INTRINSIC_OPTIONS)
        if unknown:
            raise ParameterError("protocol.learning.intrinsic", sorted(unknown),
                                 f"unknown options; accepted: {', '.join(INTRINSIC_OPTIONS)}")
        options = dict(self.intrinsic)
        fraction = options.pop("validation_fraction", 0.25)
        refit = options.pop("refit", True)
        if not isinstance(refit, (bool, np.bool_)):
            raise ParameterError("protocol.learning.intrinsic.refit", refit, "expected true or false")
        space = {key: options.pop(key) for key in SPACE_OPTIONS if key in options}
        search = OuterSearch(**{key: options.pop(key) for key in [f.name for f in dataclasses.fields(OuterSearch)]
                                if key in options})
        validation = train_set.split(fraction, seed)
        objective_backend = get_backend(backend).capabilities()["objective"]
        if report is not None:
            options["callback"] = _outer_step_reporter(report, search.outer_steps)
        new_spec, history = train_with_intrinsic(
            spec, validation.train, validation.test, inner, space=space, search=search,
            seed=seed, backend=objective_backend, backend_options=backend_options,
            refit_set=train_set if refit else None, **options)
        if report is not None:
            final = history.get("final") or {}
            report(f"intrinsic final point: objective {final.get('objective', float('nan')):.4f}; selected point "
                   f"{history['selected']} (0 = the starting parameters)")
        summary = {"rule": self.rule.name, "intrinsic": history, "validation_fraction": fraction,
                   "refit": bool(refit)}
        if refit:
            summary["refit_inner"] = history["refit"]["inner"]
            summary["refit_samples"] = history["refit"]["n_samples"]
            if report is not None:
                report(f"weights relearned for the selected parameters on all {train_set.n_samples} training "
                       "samples")
        return new_spec, jsonable(summary)


def _outer_step_reporter(report, outer_steps):
    """A ``train_with_intrinsic`` callback that reports the objective of every outer step (never stops)."""
    def callback(record):
        accuracy = (record.get("details") or {}).get("accuracy")
        accuracy = "" if accuracy is None or not len(accuracy) else \
            f", validation accuracy {100.0 * float(np.asarray(accuracy).ravel()[0]):.1f} %"
        objective = record.get("objective")
        value = "n/a" if objective is None else f"{float(objective):.4f}"
        report(f"intrinsic outer step {int(record['step']) + 1}/{outer_steps}: objective {value}{accuracy}")
        return False
    return callback
