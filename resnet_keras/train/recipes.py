"""The papers' training recipes: :class:`Recipe` and the registry :data:`RECIPES`.

A recipe holds what a paper states about its training run (optimizer, weight decay, batch size,
learning-rate schedule, run length, data split, preprocessing, augmentation) and, in `notes`,
the paper's own sentences followed by what we had to choose where the paper is silent.
``tests/test_recipes.py`` checks every number against a table of quotes.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["RECIPES", "Recipe", "get_recipe"]

_DATASETS = ("cifar10", "cifar100", "mnist")
_NORMALIZATIONS = ("channel", "pixel")
_REPORTS = ("final", "best_validation")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The hyper-parameters of a paper's training run.

    Attributes:
        name: registry key, e.g. "he2015-cifar".
        paper: the reference.
        dataset: "cifar10", "cifar100" or "mnist".
        default_model: the model name used when none is given.
        batch_size: mini-batch size (global, over all devices).
        learning_rate: the base learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: the paper's weight decay `wd` (gradient `wd * w`); applied as
            ``keras.regularizers.L2(wd / 2)`` on every kernel of the model.
        duration: run length, in `duration_unit`.
        duration_unit: "steps" (iterations) or "epochs".
        lr_schedule: "piecewise" (multiply by `lr_decay_factor` at each milestone) or
            "exponential" (multiply by `lr_exponential_rate` after every epoch).
        lr_milestones: where the learning rate is divided, in `milestone_unit`: the rate changes
            from update number ``milestone`` on (0-based), i.e. after that many updates/epochs.
        milestone_unit: "steps" or "epochs".
        lr_decay_factor: factor applied at each milestone.
        lr_exponential_rate: per-epoch factor of the "exponential" schedule.
        warmup_steps: steps at `warmup_learning_rate` before the base rate (0: none).
        warmup_learning_rate: the warm-up learning rate.
        validation_size: training examples held out for validation (0: train on all of them).
        report: which test error the paper reports: "final" (after the last epoch) or
            "best_validation" (at the epoch with the lowest validation error).
        normalization: "channel" (per-channel mean and standard deviation) or "pixel" (the
            per-pixel mean image and one global standard deviation), see
            :func:`resnet_keras.data.normalization_stats`.
        augment: random crop and flip (CIFAR); False for MNIST.
        crop_padding: zero padding of the random crop.
        random_flip: random horizontal flips.
        model_kwargs: arguments passed to the model builder (e.g. stochastic depth's p_L).
        notes: the paper's sentences this recipe follows, then what we chose and why.
    """

    name: str
    paper: str
    dataset: str
    default_model: str
    batch_size: int
    learning_rate: float
    momentum: float
    nesterov: bool
    weight_decay: float
    duration: int
    duration_unit: str
    lr_schedule: str = "piecewise"
    lr_milestones: tuple = ()
    milestone_unit: str = "steps"
    lr_decay_factor: float = 0.1
    lr_exponential_rate: float = 1.0
    warmup_steps: int = 0
    warmup_learning_rate: float = 0.0
    validation_size: int = 0
    report: str = "final"
    normalization: str = "channel"
    augment: bool = True
    crop_padding: int = 4
    random_flip: bool = True
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        def one_of(field, allowed):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"{field} must be one of {allowed}; got {value!r}")

        one_of("dataset", _DATASETS)
        one_of("duration_unit", ("steps", "epochs"))
        one_of("milestone_unit", ("steps", "epochs"))
        one_of("lr_schedule", ("piecewise", "exponential"))
        one_of("normalization", _NORMALIZATIONS)
        one_of("report", _REPORTS)
        for field in ("batch_size", "duration"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{field} must be a positive integer; got {value!r}")
        for field in ("validation_size", "warmup_steps", "crop_padding"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative integer; got {value!r}")
        for field in ("learning_rate", "lr_decay_factor", "lr_exponential_rate"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{field} must be a positive number; got {value!r}")
        for field in ("momentum", "weight_decay", "warmup_learning_rate"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{field} must be a non-negative number; got {value!r}")
        if self.warmup_steps and not self.warmup_learning_rate > 0:
            raise ValueError(
                f"warmup_learning_rate must be positive with warmup_steps={self.warmup_steps}; "
                f"got {self.warmup_learning_rate!r}"
            )
        if list(self.lr_milestones) != sorted(self.lr_milestones) or any(
            m <= 0 for m in self.lr_milestones
        ):
            raise ValueError(f"lr_milestones must be positive and increase; got "
                             f"{list(self.lr_milestones)}")
        if self.report == "best_validation" and not self.validation_size:
            raise ValueError("report='best_validation' needs a validation split "
                             "(validation_size > 0).")

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise ValueError)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValueError(
                f"Unknown recipe field(s) {unknown}; recipe fields are {sorted(fields)}."
            )
        if "lr_milestones" in changes:
            changes["lr_milestones"] = tuple(changes["lr_milestones"])
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        return d


RECIPES = {}


def _register(recipe):
    RECIPES[recipe.name] = recipe
    return recipe


_HE2015_QUOTES = (
    'He et al. 2015, Sec. 4.2: "The network inputs are 32x32 images, with the per-pixel mean '
    'subtracted." "We use a weight decay of 0.0001 and momentum of 0.9 [...] These models are '
    'trained with a mini-batch size of 128 on two GPUs. We start with a learning rate of 0.1, '
    "divide it by 10 at 32k and 48k iterations, and terminate training at 64k iterations, which "
    'is determined on a 45k/5k train/val split. We follow the simple data augmentation in [24] '
    "for training: 4 pixels are padded on each side, and a 32x32 crop is randomly sampled from "
    'the padded image or its horizontal flip. For testing, we only evaluate the single view of '
    'the original 32x32 image."'
)
_HE2015_CHOICES = (
    " Our reading and choices: the 45k/5k split only fixed the schedule, so the reported models "
    "train on all 50k training images (validation_size=0) and are tested after the last "
    "iteration. Inputs: the per-pixel mean image is subtracted and the result divided by one "
    "global standard deviation of the training pixels (the paper states only the mean; a "
    "single scale factor changes no ratio between inputs, and the batch normalisation after the "
    "first convolution removes it from the forward pass). The padding is applied after the "
    "mean subtraction, so padded pixels equal the mean."
)

_HE2015 = _register(Recipe(
    name="he2015-cifar",
    paper="He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016 "
          "(arXiv:1512.03385, 2015), Sec. 4.2",
    dataset="cifar10", default_model="resnet20",
    batch_size=128, learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4,
    duration=64000, duration_unit="steps",
    lr_milestones=(32000, 48000), milestone_unit="steps", lr_decay_factor=0.1,
    validation_size=0, report="final", normalization="pixel",
    notes=_HE2015_QUOTES + _HE2015_CHOICES,
))
# The two variants below differ from he2015-cifar only in the fields they name.
_register(_HE2015.replace(
    name="he2015-cifar-warmup",
    paper="He et al. 2015 (arXiv:1512.03385), Sec. 4.2, ResNet-110",
    default_model="resnet110",
    warmup_steps=400, warmup_learning_rate=0.01,
    notes='He et al. 2015, Sec. 4.2, on ResNet-110: "In this case, we find that the initial '
    "learning rate of 0.1 is slightly too large to start converging. So we use 0.01 to warm up "
    "the training until the training error is below 80% (about 400 iterations), and then go back "
    'to 0.1 and continue training. The rest of the learning schedule is as done previously." '
    "Our choice: a fixed 400 iterations at 0.01 (the paper's 'about 400'), the rest as "
    "he2015-cifar. " + _HE2015_QUOTES + _HE2015_CHOICES,
))
_register(_HE2015.replace(
    name="he2016-preact-cifar",
    paper="He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. ECCV 2016 "
          "(arXiv:1603.05027), Appendix",
    default_model="preact_resnet164",
    warmup_steps=400, warmup_learning_rate=0.01,
    notes='He et al. 2016, Appendix (Implementation Details), CIFAR: "The learning rate starts '
    "from 0.1, and is divided by 10 at 32k and 48k iterations. Following [1], for all CIFAR "
    "experiments we warm up the training by using a smaller learning rate of 0.01 at the "
    "beginning 400 iterations and go back to 0.1 after that, although we remark that this is not "
    "necessary for our proposed residual unit. The mini-batch size is 128 on 2 GPUs (64 each), "
    'the weight decay is 0.0001, the momentum is 0.9, and the weights are initialized as in '
    '[23]." The warm-up is part of every CIFAR run of the paper, shallow or deep, so it is part '
    "of this recipe; training stops at 64k iterations as in [1] (He et al. 2015). Data, "
    "augmentation and split as he2015-cifar (the paper follows [1]): all 50k training images, "
    "per-pixel mean subtracted.",
))
_register(Recipe(
    name="huang2016-sd-cifar",
    paper="Huang, Sun, Liu, Sedra, Weinberger. Deep Networks with Stochastic Depth. ECCV 2016 "
          "(arXiv:1603.09382), Sec. 4",
    dataset="cifar10", default_model="resnet110_sd",
    batch_size=128, learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
    duration=500, duration_unit="epochs",
    lr_milestones=(250, 375), milestone_unit="epochs", lr_decay_factor=0.1,
    validation_size=5000, report="best_validation", normalization="pixel",
    model_kwargs={"final_survival_probability": 0.5, "stochastic_depth_mode": "batch"},
    notes="Huang et al. 2016, Sec. 4 (paraphrased) and the authors' code "
    "(yueatsprograms/Stochastic_Depth, main.lua and cifar-dataset.lua): 500 epochs, mini-batch "
    "128, learning rate 0.1 divided by 10 after epochs 250 and 375, weight decay 1e-4, momentum "
    "0.9 with Nesterov momentum and 0 dampening; 5,000 training images held out for validation "
    "and the other 45,000 trained on; per-pixel mean subtracted and divided by the global "
    "standard deviation; translations by up to 4 pixels with zero fill and horizontal flips; "
    'linear decay of the survival probability to p_L = 0.5; "for each mini-batch, randomly drop '
    'a subset of layers" (the abstract): a dropped block is skipped for the whole mini-batch; '
    "the reported test error is the one at the epoch of the lowest validation error (the code's "
    "README: 5.25% with p_L = 0.5, 6.41% for constant depth). Our choices: the same. The code "
    "lowers the rate at the start of epochs 250 and 375 (1-based), i.e. after 249 and 374 "
    "completed epochs, the paper says after 250 and 375: we follow the paper. For the "
    "constant-depth baseline use the model resnet110 with "
    "model_kwargs={'final_survival_probability': 1.0}. The code computes a branch only when "
    'its block survives (ResidualDrop.lua: "if self.gate then -- only compute convolutional '
    'output when gate is open"), so a dropped branch also leaves its BN statistics alone; '
    "stochastic_depth_mode='skip' does the same. This recipe uses 'batch' (the branch is "
    "computed and multiplied by 0 or 1/p): from the same draws it takes the same steps (tests/"
    "test_stochastic_depth.py), only the moving statistics of dropped branches differ, and its "
    "cost does not depend on how a backend runs conditionals: measured per step, 'skip' is "
    "0.80x constant depth on TensorFlow (CPU, ResNet-110) but 21.7x on JAX (XLA:CPU, "
    "ResNet-20: backward convolutions inside a conditional run 7-50x slower there); GPUs not "
    "measured yet (benchmarks/stochastic_depth_step.py, benchmarks/xla_cpu_nested_conv.py).",
))
_register(Recipe(
    name="srivastava2015-highway-mnist",
    paper="Srivastava, Greff, Schmidhuber. Training Very Deep Networks. NIPS 2015 "
          "(arXiv:1507.06228), Sec. 3.1 / Fig. 1",
    dataset="mnist", default_model="highway_mlp50",
    batch_size=128, learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
    duration=400, duration_unit="epochs",
    lr_schedule="exponential", lr_exponential_rate=0.99,
    validation_size=0, normalization="channel", augment=False, crop_padding=0,
    random_flip=False,
    notes="Srivastava et al. 2015 (MNIST depth experiment): fully connected nets of 10-100 "
    "layers, 50 units per highway layer / 71 per plain layer, a plain first layer, SGD with "
    "momentum, an exponentially decaying learning rate, 400 epochs; the learning rate, "
    "momentum, decay factor, activation and gate bias were chosen per network by a random "
    "search that the paper does not list. Our choices: momentum 0.9, lr 0.01, decay 0.99 "
    "per epoch, batch 128, ReLU, no weight decay, no augmentation, inputs standardised with the "
    "training mean/std. 400 epochs is long: pass epochs=... to shorten (the decay is rescaled).",
))


def get_recipe(name_or_recipe):
    """A :class:`Recipe` by name (or the recipe itself)."""
    if isinstance(name_or_recipe, Recipe):
        return name_or_recipe
    if name_or_recipe not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name_or_recipe!r}; choose one of {sorted(RECIPES)}."
        )
    return RECIPES[name_or_recipe]
