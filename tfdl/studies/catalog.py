"""The studies: one per lesson claim, each a small grid of config overrides run on the same split.

A :class:`Study` names its lesson, the claim it puts to the data, the apps it runs on (each with the base
overrides that make the default budget fit in about five minutes of a quiet 2-core CPU: a subset of the
data, few epochs, one seed) and its variants. A variant is only ``--set`` overrides (plus, for equal-step
comparisons, a fixed number of optimizer steps per epoch), so every study setting is an ordinary run
setting: ``tfdl train APP --set ...`` with the same keys trains the same model.

No TensorFlow here: ``tfdl study list`` answers fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    sets: tuple[str, ...] = ()  # config overrides on top of the study's base (and the user's --set)
    group: str = ""  # a panel of the figures (batch-size: "equal epochs" | "equal steps")
    steps_per_epoch: int | None = None  # fixed optimizer steps per epoch (the data repeats or is cut)


@dataclass(frozen=True)
class Study:
    name: str
    lesson: str
    claim: str  # what the lesson says, in one sentence; the study's reading checks it against the numbers
    apps: Mapping[str, tuple[str, ...]]  # supported app -> base overrides; the first app is the default
    budget: float  # default --budget in seconds (wall clock for all the variants)
    variants: tuple[Variant, ...]
    # loss | gap | gradients | lr_range | steps | params | augment | roc | threshold
    figures: tuple[str, ...] = ("loss",)
    gradients: bool = False  # log per-layer gradient norms over the first steps (train.log_gradients)

    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]


# What every study run shares: equal epochs for all variants (no early stopping unless a variant asks), a
# constant learning rate (a schedule would mix with the comparison), float32, no export, no weight decay
# unless a variant asks (train.weight_decay=0 overrides AdamW's default 1e-4).
COMMON = (
    "train.early_stopping_patience=0",
    "train.schedule=constant",
    "train.warmup_epochs=0",
    "train.precision=float32",
    "train.min_steps=0",
    "train.weight_decay=0",
    "export.enabled=false",
)

# Fashion-MNIST: 6,000 training images, 3,000 validation (5 % of the official 60,000), the official
# 10,000 test images; the MLP of the vision app (256-128, ReLU, He init).
VISION_MLP = (
    *COMMON,
    "model.name=mlp",
    "model.dropout=0.0",
    "data.limit=6000",
    "data.val_fraction=0.05",
    "train.epochs=8",
    "train.batch_size=128",
)
# modeldata credit_data (4,454 loans, good/bad): the tabular MLP.
TABULAR_MLP = (*COMMON, "model.name=mlp", "model.dropout=0.0", "train.epochs=15", "train.batch_size=64")

# A deep narrow MLP (8 hidden layers of 64) where the initialisation and the activation decide whether a
# gradient reaches the first layers; SGD with momentum, which does not rescale small gradients as Adam does.
DEEP = ("model.units=[64, 64, 64, 64, 64, 64, 64, 64]", "train.optimizer=sgd", "train.momentum=0.9",
        "train.learning_rate=0.01", "train.log_gradients=true", "train.gradient_steps=30")  # fmt: skip
VISION_DEEP = (*VISION_MLP, *DEEP)

OPTIMIZERS = Study(
    name="optimizers",
    lesson="4 (optimisation)",
    claim="adaptive optimizers (RMSprop, Adam, AdamW) lower the loss faster than plain SGD at their usual "
    "learning rates; momentum closes much of the gap",
    apps={"vision": VISION_MLP, "tabular": TABULAR_MLP},
    budget=300,
    variants=(
        Variant("sgd", ("train.optimizer=sgd", "train.learning_rate=0.01")),
        Variant("sgd+momentum", ("train.optimizer=sgd", "train.learning_rate=0.01", "train.momentum=0.9")),
        Variant("rmsprop", ("train.optimizer=rmsprop", "train.learning_rate=0.001")),
        Variant("adagrad", ("train.optimizer=adagrad", "train.learning_rate=0.01")),
        Variant("adam", ("train.optimizer=adam", "train.learning_rate=0.001")),
        Variant("adamw", ("train.optimizer=adamw", "train.learning_rate=0.001", "train.weight_decay=0.01")),
        Variant("lion", ("train.optimizer=lion", "train.learning_rate=0.0001", "train.weight_decay=0.1")),
        # Adafactor's step is relative to each weight's RMS (Shazeer & Stern 2018: 1e-2 relative steps)
        Variant("adafactor", ("train.optimizer=adafactor", "train.learning_rate=0.01")),
    ),
    figures=("loss",),
)

LEARNING_RATE = Study(
    name="learning-rate",
    lesson="4 (optimisation)",
    claim="too high a learning rate makes the loss jump or diverge, too low a one crawls; an LR range test "
    "(the loss while the rate grows each step) shows the usable range before training",
    apps={"vision": VISION_MLP, "tabular": TABULAR_MLP},
    budget=240,
    variants=(
        Variant("too high (0.1)", ("train.optimizer=adam", "train.learning_rate=0.1")),
        Variant("good (0.001)", ("train.optimizer=adam", "train.learning_rate=0.001")),
        Variant("too low (1e-5)", ("train.optimizer=adam", "train.learning_rate=0.00001")),
    ),
    figures=("loss", "lr_range"),
)

REGULARIZATION = Study(
    name="regularization",
    lesson="6 (regularisation)",
    claim="on little data a large network over-fits (the validation loss turns up while the training loss "
    "keeps falling); dropout, an L2 penalty, weight decay and early stopping each narrow the gap",
    apps={
        "vision": (*VISION_MLP, "data.limit=2000", "model.units=[512, 256]", "train.epochs=25"),
        "tabular": (*TABULAR_MLP, "model.units=[256, 128]", "train.epochs=40"),
    },
    budget=300,
    variants=(
        Variant("none", ()),
        Variant("dropout 0.2", ("model.dropout=0.2",)),
        Variant("L2 1e-4", ("model.l2=0.0001",)),
        Variant("weight decay 0.1", ("train.optimizer=adamw", "train.weight_decay=0.1")),
        Variant("early stopping (patience 3)", ("train.early_stopping_patience=3",)),
    ),
    figures=("loss", "gap"),
)

ACTIVATIONS = Study(
    name="activations",
    lesson="2 and 12 (activations, vanishing gradients)",
    claim="in a deep MLP the sigmoid's gradient shrinks layer by layer towards the input (it vanishes), "
    "tanh less, ReLU and GELU keep it; the deep sigmoid net trains slowest",
    apps={"vision": (*VISION_DEEP, "model.kernel_initializer=glorot_uniform")},
    budget=300,
    variants=tuple(Variant(a, (f"model.activation={a}",)) for a in ("sigmoid", "tanh", "relu", "gelu")),
    figures=("loss", "gradients"),
    gradients=True,
)

INITIALIZERS = Study(
    name="initializers",
    lesson="12 (initialisation)",
    claim="He initialisation keeps the ReLU gradient's size through depth (He et al. 2015), Glorot suits "
    "tanh (Glorot & Bengio 2010); a small fixed-scale random normal (sd 0.05) makes it vanish",
    apps={"vision": VISION_DEEP},
    budget=300,
    variants=(
        Variant("relu + glorot", ("model.activation=relu", "model.kernel_initializer=glorot_uniform")),
        Variant("relu + he", ("model.activation=relu", "model.kernel_initializer=he_normal")),
        Variant("tanh + glorot", ("model.activation=tanh", "model.kernel_initializer=glorot_uniform")),
        Variant("tanh + he", ("model.activation=tanh", "model.kernel_initializer=he_normal")),
        Variant("relu + normal(0.05)", ("model.activation=relu", "model.kernel_initializer=random_normal")),
    ),
    figures=("loss", "gradients"),
    gradients=True,
)

NORMALIZATION = Study(
    name="normalization",
    lesson="12 (normalisation)",
    claim="BatchNorm and LayerNorm let a deep network train faster and keep the per-layer gradients "
    "in a narrower range than no normalisation",
    apps={"vision": (*VISION_DEEP, "model.activation=relu", "model.kernel_initializer=glorot_uniform")},
    budget=300,
    variants=(
        Variant("none", ()),
        Variant("BatchNorm", ("model.batch_norm=true",)),
        Variant("LayerNorm", ("model.layer_norm=true",)),
    ),
    figures=("loss", "gradients"),
    gradients=True,
)

# 6,000 images: batch 128 is 47 steps per epoch; the equal-step runs take 47 steps per epoch whatever the
# batch (batch 32 sees a quarter of the data per epoch, batch 512 four passes).
BATCH_SIZE = Study(
    name="batch-size",
    lesson="4 (optimisation)",
    claim="at equal epochs a small batch takes more (noisier) steps and gets further per epoch but each "
    "epoch costs more seconds; at equal steps a large batch sees more data per step and gets further",
    apps={"vision": (*VISION_MLP, "train.optimizer=adam", "train.learning_rate=0.001", "train.epochs=5")},
    budget=300,
    variants=(
        *(
            Variant(f"batch {b}, equal epochs", (f"train.batch_size={b}",), "equal epochs")
            for b in (32, 128, 512)
        ),
        *(
            Variant(f"batch {b}, equal steps", (f"train.batch_size={b}",), "equal steps", steps_per_epoch=47)
            for b in (32, 128, 512)
        ),
    ),
    figures=("steps",),
)

MLP_VS_CNN = Study(
    name="mlp-vs-cnn",
    lesson="7 (convolutional networks)",
    claim="on images a CNN beats an MLP of many more weights: weight sharing and locality fit images",
    apps={
        "vision": (
            *COMMON,
            "data.limit=6000",
            "data.val_fraction=0.05",
            "train.epochs=5",
            "train.optimizer=adam",
            "train.learning_rate=0.001",
            "train.batch_size=128",
        )
    },  # fmt: skip
    budget=360,
    variants=(
        Variant("mlp 256-128", ("model.name=mlp", "model.units=[256, 128]", "model.dropout=0.0")),
        Variant("mlp 1024-512", ("model.name=mlp", "model.units=[1024, 512]", "model.dropout=0.0")),
        Variant(
            "cnn 16-32 (avg pool)",
            (
                "model.name=cnn",
                "model.filters=[16, 32]",
                "model.pooling=avg",
                "model.dense_units=0",
                "model.dropout=0.0",
            ),
        ),  # fmt: skip
        Variant("cnn 32-64", ("model.name=cnn", "model.filters=[32, 64]", "model.dropout=0.0")),
    ),
    figures=("loss", "params"),
)

AUGMENTATION = Study(
    name="augmentation",
    lesson="13 (data augmentation)",
    claim="augmentation narrows the train-validation gap on little data; too strong an augmentation for "
    "the budget costs accuracy; always look at a batch of augmented images",
    apps={
        "vision": (
            *COMMON,
            "model.name=cnn",
            "model.filters=[16, 32]",
            "data.limit=2000",
            "data.val_fraction=0.05",
            "train.epochs=12",
            "train.optimizer=adam",
            "train.learning_rate=0.001",
            "train.batch_size=64",
        )
    },  # fmt: skip
    budget=360,
    variants=tuple(Variant(a, (f"augment={a}",)) for a in ("none", "light", "strong")),
    figures=("loss", "gap", "augment"),
)

PRECISION = Study(
    name="precision",
    lesson="18 (performance)",
    claim="mixed precision speeds training up where the hardware has fast 16-bit math (GPUs, CPUs with "
    "AMX/AVX512-BF16) at about the same accuracy; elsewhere it can be slower",
    apps={
        "vision": (
            *COMMON,
            "model.name=cnn",
            "model.filters=[16, 32]",
            "data.limit=4000",
            "data.val_fraction=0.05",
            "train.epochs=3",
            "train.optimizer=adam",
            "train.learning_rate=0.001",
            "train.batch_size=128",
        )
    },  # fmt: skip
    budget=300,
    variants=(
        Variant("float32", ("train.precision=float32",)),
        Variant("mixed_bfloat16", ("train.precision=mixed_bfloat16",)),
    ),
    figures=("loss",),
)

# Rotten Tomatoes snippets (4,000 training sentences): one recurrent layer of 32 units over 64-d embeddings.
RECURRENT = Study(
    name="recurrent",
    lesson="9 (recurrent networks)",
    claim="gated cells (LSTM, GRU) learn from word sequences more reliably than a SimpleRNN; reading both "
    "directions helps a little at twice the cost",
    apps={
        "text": (
            *COMMON,
            "model.name=rnn",
            "data.limit=4000",
            "train.epochs=4",
            "train.optimizer=adam",
            "train.learning_rate=0.002",
            "train.batch_size=64",
        )
    },  # fmt: skip
    budget=360,
    variants=(
        Variant("SimpleRNN", ("model.cell=simple",)),
        Variant("LSTM", ("model.cell=lstm",)),
        Variant("GRU", ("model.cell=gru",)),
        Variant("bidirectional LSTM", ("model.cell=lstm", "model.bidirectional=true")),
    ),
    figures=("loss",),
)

THRESHOLD = Study(
    name="threshold",
    lesson="5 (evaluation)",
    claim="0.5 is only a default: the decision threshold trades precision for recall, is chosen on "
    "validation for a stated goal (here the best F1 of the minority class) and then checked once on test; "
    "the ROC curve compares the model with its baselines at every threshold",
    apps={"tabular": (*TABULAR_MLP,)},
    budget=180,
    variants=(Variant("mlp", ()),),
    figures=("loss", "roc", "threshold"),
)

STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        OPTIMIZERS,
        LEARNING_RATE,
        REGULARIZATION,
        ACTIVATIONS,
        INITIALIZERS,
        BATCH_SIZE,
        MLP_VS_CNN,
        NORMALIZATION,
        RECURRENT,
        AUGMENTATION,
        PRECISION,
        THRESHOLD,
    )
}

# Lesson claims the catalog does not run yet (issue 16): named by `tfdl study list`.
NOT_YET = {
    "recurrent on the forecast": "SimpleRNN / LSTM / GRU on the timeseries app (lesson 9; text is built)",
    "autoencoder-vs-pca": "reconstruction error and 2-D latent maps side by side (lesson 10)",
}


def get_study(name: str) -> Study:
    from tfdl.errors import TfdlError

    if name not in STUDIES:
        later = f" ('{name}' is planned, not built yet)" if name in NOT_YET else ""
        raise TfdlError(
            f"unknown study '{name}'{later}; choose one of: {', '.join(STUDIES)} (see `tfdl study list`)"
        )
    return STUDIES[name]


def list_lines() -> list[str]:
    """``tfdl study list``: one block per study (name, lesson, apps, default budget, variants, claim)."""
    out = []
    for s in STUDIES.values():
        apps = ", ".join(f"{a}*" if i == 0 else a for i, a in enumerate(s.apps))
        out.append(f"{s.name:<15} lesson {s.lesson}; apps: {apps}; default budget {s.budget:.0f}s")
        out.append(f"{'':<15} variants: {', '.join(s.variant_names())}")
        out.append(f"{'':<15} claim: {s.claim}")
    out.append("not built yet: " + "; ".join(f"{k}: {v}" for k, v in NOT_YET.items()))
    out.append("(* = default app)  run one: tfdl study NAME [--app APP] [--budget SECONDS] [--set k=v]")
    return out
