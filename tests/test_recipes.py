"""The recipes hold the numbers the papers state: a table of quotes, checked field by field.

Each row is (recipe, field, expected value, the sentence of the paper or of the authors' code
that states it). A recipe field that disagrees with its quote fails here.
"""

import json

import pytest

from resnet_keras.train import RECIPES, resolve_schedule

HE2015 = "He et al. 2015, Sec. 4.2"
HE2016 = "He et al. 2016, Appendix"
HUANG = "Huang et al. 2016, Sec. 4 and the authors' code (yueatsprograms/Stochastic_Depth)"
SRIVASTAVA = "Srivastava et al. 2015 (Training Very Deep Networks), Sec. 3.1"

PAPER_TABLE = [
    # recipe, field, value, source, quote
    ("he2015-cifar", "batch_size", 128, HE2015, "trained with a mini-batch size of 128 on two GPUs"),
    ("he2015-cifar", "learning_rate", 0.1, HE2015, "We start with a learning rate of 0.1"),
    ("he2015-cifar", "lr_milestones", (32000, 48000), HE2015,
     "divide it by 10 at 32k and 48k iterations"),
    ("he2015-cifar", "lr_decay_factor", 0.1, HE2015, "divide it by 10"),
    ("he2015-cifar", "milestone_unit", "steps", HE2015, "at 32k and 48k iterations"),
    ("he2015-cifar", "duration", 64000, HE2015, "terminate training at 64k iterations"),
    ("he2015-cifar", "duration_unit", "steps", HE2015, "terminate training at 64k iterations"),
    ("he2015-cifar", "weight_decay", 1e-4, HE2015, "We use a weight decay of 0.0001"),
    ("he2015-cifar", "momentum", 0.9, HE2015, "and momentum of 0.9"),
    ("he2015-cifar", "nesterov", False, HE2015, "(plain SGD with momentum; Nesterov not mentioned)"),
    ("he2015-cifar", "validation_size", 0, HE2015,
     "which is determined on a 45k/5k train/val split (the split fixed the schedule; the "
     "reported nets train on the 50k training images)"),
    ("he2015-cifar", "report", "final", HE2015, "terminate training at 64k iterations"),
    ("he2015-cifar", "normalization", "pixel", HE2015, "with the per-pixel mean subtracted"),
    ("he2015-cifar", "crop_padding", 4, HE2015, "4 pixels are padded on each side"),
    ("he2015-cifar", "random_flip", True, HE2015,
     "a 32x32 crop is randomly sampled from the padded image or its horizontal flip"),
    ("he2015-cifar", "warmup_steps", 0, HE2015, "(no warm-up except for ResNet-110)"),
    ("he2015-cifar-warmup", "warmup_learning_rate", 0.01, HE2015,
     "So we use 0.01 to warm up the training"),
    ("he2015-cifar-warmup", "warmup_steps", 400, HE2015,
     "until the training error is below 80% (about 400 iterations)"),
    ("he2016-preact-cifar", "warmup_steps", 400, HE2016,
     "for all CIFAR experiments we warm up the training by using a smaller learning rate of "
     "0.01 at the beginning 400 iterations"),
    ("he2016-preact-cifar", "warmup_learning_rate", 0.01, HE2016,
     "a smaller learning rate of 0.01 at the beginning 400 iterations"),
    ("he2016-preact-cifar", "learning_rate", 0.1, HE2016, "The learning rate starts from 0.1"),
    ("he2016-preact-cifar", "lr_milestones", (32000, 48000), HE2016,
     "is divided by 10 at 32k and 48k iterations"),
    ("he2016-preact-cifar", "batch_size", 128, HE2016, "The mini-batch size is 128 on 2 GPUs"),
    ("he2016-preact-cifar", "weight_decay", 1e-4, HE2016, "the weight decay is 0.0001"),
    ("he2016-preact-cifar", "momentum", 0.9, HE2016, "the momentum is 0.9"),
    ("he2016-preact-cifar", "duration", 64000, HE2016, "(64k iterations, following [1])"),
    ("he2016-preact-cifar", "validation_size", 0, HE2016, "(the training set of [1])"),
    ("huang2016-sd-cifar", "duration", 500, HUANG, "500 epochs (main.lua: maxEpochs 500)"),
    ("huang2016-sd-cifar", "duration_unit", "epochs", HUANG, "500 epochs"),
    ("huang2016-sd-cifar", "batch_size", 128, HUANG, "batch size 128"),
    ("huang2016-sd-cifar", "learning_rate", 0.1, HUANG, "initial learning rate 0.1"),
    ("huang2016-sd-cifar", "lr_milestones", (250, 375), HUANG,
     "divided by a factor of 10 after epochs 250 and 375"),
    ("huang2016-sd-cifar", "milestone_unit", "epochs", HUANG, "after epochs 250 and 375"),
    ("huang2016-sd-cifar", "weight_decay", 1e-4, HUANG, "weightDecay = 1e-4"),
    ("huang2016-sd-cifar", "momentum", 0.9, HUANG, "momentum = 0.9"),
    ("huang2016-sd-cifar", "nesterov", True, HUANG, "nesterov = true, dampening = 0"),
    ("huang2016-sd-cifar", "validation_size", 5000, HUANG, "trsize = 45000, vasize = 5000"),
    ("huang2016-sd-cifar", "report", "best_validation", HUANG,
     "ends with a test error (selected by best validation error) of 5.25%"),
    ("huang2016-sd-cifar", "normalization", "pixel", HUANG,
     "mean = self.data:mean(1); std = self.data:std()"),
    ("huang2016-sd-cifar", "crop_padding", 4, HUANG, "Translation by at most 4 pixels"),
    ("huang2016-sd-cifar", "model_kwargs", {"final_survival_probability": 0.5,
                                            "stochastic_depth_mode": "batch"}, HUANG,
     "linear decay to p_L = 0.5; for each mini-batch, randomly drop a subset of layers"),
    ("srivastava2015-highway-mnist", "dataset", "mnist", SRIVASTAVA, "MNIST"),
    ("srivastava2015-highway-mnist", "duration", 400, SRIVASTAVA, "400 epochs"),
    ("srivastava2015-highway-mnist", "lr_schedule", "exponential", SRIVASTAVA,
     "an exponentially decaying learning rate"),
    ("srivastava2015-highway-mnist", "augment", False, SRIVASTAVA, "(no augmentation)"),
]


@pytest.mark.parametrize("recipe,field,value,source,quote", PAPER_TABLE,
                         ids=[f"{r}.{f}" for r, f, *_ in PAPER_TABLE])
def test_recipe_field_matches_the_paper(recipe, field, value, source, quote):
    assert getattr(RECIPES[recipe], field) == value, f"{source}: {quote!r}"


def test_every_recipe_quotes_its_paper():
    for recipe in RECIPES.values():
        assert recipe.paper and recipe.notes
        json.dumps(recipe.to_dict())
    assert "per-pixel mean subtracted" in RECIPES["he2015-cifar"].notes
    assert "for all CIFAR experiments we warm up" in RECIPES["he2016-preact-cifar"].notes


def test_he2015_schedule_is_182_epochs_of_the_full_training_set():
    s = resolve_schedule("he2015-cifar", steps_per_epoch=391)  # ceil(50000 / 128)
    assert s.total_steps == 64000 and s.epochs == 164
    assert s.lr_at(31999) == 0.1 and s.lr_at(32000) == pytest.approx(0.01)
    warm = resolve_schedule("he2016-preact-cifar", 391)
    assert warm.lr_at(0) == 0.01 and warm.lr_at(399) == 0.01 and warm.lr_at(400) == 0.1


@pytest.mark.parametrize("field,value,match", [
    ("batch_size", 0, "batch_size"),
    ("batch_size", 1.5, "batch_size"),
    ("learning_rate", -0.1, "learning_rate"),
    ("learning_rate", float("nan"), "learning_rate"),
    ("momentum", -1, "momentum"),
    ("weight_decay", -1e-4, "weight_decay"),
    ("validation_size", -5, "validation_size"),
    ("warmup_steps", -1, "warmup_steps"),
    ("normalization", "zca", "normalization"),
    ("dataset", "imagenet", "dataset"),
    ("report", "best_test", "report"),
    ("lr_milestones", (0, 10), "lr_milestones"),
])
def test_bad_recipe_fields_are_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        RECIPES["he2015-cifar"].replace(**{field: value})


def test_best_validation_needs_a_validation_split():
    with pytest.raises(ValueError, match="validation"):
        RECIPES["huang2016-sd-cifar"].replace(validation_size=0)
