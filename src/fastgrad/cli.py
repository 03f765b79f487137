"""The ``fastgrad`` command line: ``fastgrad train`` and ``fastgrad info``.

``fastgrad train`` with no options trains an MLP on the 8x8 digits data set (1797
images, 10 classes) and prints the test accuracy and the training throughput.

A user error (a bad option, an unwritable ``--checkpoint``, an unreadable ``--resume``)
is one line on stderr and a non-zero exit status, found before training starts wherever
it can be; output to a closed pipe (``fastgrad train | head``) ends the run quietly.
"""
import argparse
import math
import os
import sys
import time

DATASETS = ("digits", "moons", "spirals", "blobs")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "silu")
DEFAULT_LR = {"adam": 1e-2, "adamw": 1e-2, "sgd": 0.05, "rmsprop": 1e-3, "adagrad": 0.05}
TASKS = ("mlp", "charlm")
CHARLM_MODELS = ("lstm", "gru", "transformer")


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line: the message and where to find the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _hidden(text):
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or not all(items):
        raise argparse.ArgumentTypeError(f"expects comma-separated layer sizes such as 128,64, "
                                         f"got {text!r}")
    try:
        sizes = [int(s) for s in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects comma-separated ints, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not v > 0 or (kind is float and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return v
    return parse


def build_parser():
    p = _Parser(prog="fastgrad", description="fastgrad: fast small-network training on the CPU")
    from fastgrad import __version__
    p.add_argument("--version", action="version", version=f"fastgrad {__version__}")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train an MLP classifier or a character language model",
                       description="Train an MLP classifier and report test accuracy and throughput "
                                   "(--task mlp), or a character-level language model on the bundled "
                                   "tiny-Shakespeare text and report its validation loss and a sample "
                                   "(--task charlm).")
    t.add_argument("--task", choices=TASKS, default="mlp",
                   help="mlp: an MLP classifier on --dataset; charlm: a character-level language model "
                        "(--model) on tiny Shakespeare, trained with AdamW (default: mlp)")
    t.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="digits: scikit-learn's bundled 8x8 digits; the others are generated (default: digits)")
    t.add_argument("--samples", type=_positive(int), default=2000,
                   help="number of samples for the generated data sets (default: 2000)")
    t.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes, comma separated (default: 128,64); charlm: the recurrent "
                        "width (default: 128) or the transformer's d_model")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout after each hidden layer")
    t.add_argument("--epochs", type=_positive(int), default=30)
    t.add_argument("--batch-size", type=_positive(int), default=64)
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    t.add_argument("--lr", type=_positive(float), default=None,
                   help="peak learning rate (default: 0.01 for adam/adamw, 1e-3 for rmsprop, 0.05 for sgd/adagrad)")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--schedule", choices=("none", "cosine", "onecycle"), default="cosine",
                   help="learning-rate schedule over the whole run (default: cosine)")
    t.add_argument("--test-size", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=_positive(int), default=None,
                   help="kernel threads (default: all cores, see fastgrad.get_num_threads)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--checkpoint", default=None,
                   help="save model and optimizer state here after every epoch (atomic writes)")
    t.add_argument("--resume", default=None,
                   help="continue from a checkpoint written by --checkpoint (same options)")
    t.add_argument("--stop-after", type=_positive(int), default=None,
                   help="stop after this many epochs of the run (the schedule still spans --epochs); "
                        "continue later with --resume")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes started by 'mpirun -n N' "
                        "(needs fastgrad[distributed]); --batch-size is per process, rank 0 "
                        "prints and writes the checkpoint")
    t.add_argument("--compile", action="store_true",
                   help="run each training step as a compiled plan (fastgrad.compile); steps it "
                        "cannot compile run eagerly, with a notice saying why")
    t.add_argument("--no-progress", action="store_true", help="no progress bar, one line per epoch")
    lm = t.add_argument_group("charlm", "options of --task charlm")
    lm.add_argument("--model", choices=CHARLM_MODELS, default="lstm",
                    help="lstm, gru or a GPT-style transformer (default: lstm)")
    lm.add_argument("--steps", type=_positive(int), default=500, help="training steps (default: 500)")
    lm.add_argument("--seq-len", type=_positive(int), default=64,
                    help="characters per training sequence, and the transformer's context (default: 64)")
    lm.add_argument("--d-model", type=_positive(int), default=None,
                    help="the transformer's width (default: --hidden, else 64)")
    lm.add_argument("--layers", type=_positive(int), default=None,
                    help="recurrent layers or transformer blocks (default: 1 for lstm/gru, 2 for transformer)")
    lm.add_argument("--heads", type=_positive(int), default=4, help="attention heads (default: 4)")
    lm.add_argument("--eval-every", type=_positive(int), default=None,
                    help="report the losses every this many steps (default: a fifth of --steps)")
    lm.add_argument("--eval-batches", type=_positive(int), default=8,
                    help="validation batches per report (default: 8)")
    lm.add_argument("--sample-chars", type=int, default=300,
                    help="characters of text to sample at the end (default: 300; 0: none)")
    lm.add_argument("--temperature", type=_positive(float), default=0.8,
                    help="sampling temperature (default: 0.8)")
    t.add_argument("--quiet", action="store_true", help="print only the final summary")
    sub.add_parser("info", help="show the build configuration (SIMD, threads, backend)")
    b = sub.add_parser("bench", help="time fastgrad against NumPy, PyTorch and JAX on this machine",
                       description="Time fastgrad's kernels, GEMM, training steps and per-op overhead "
                                   "side by side with NumPy and, when installed, PyTorch and JAX. "
                                   "'fastgrad bench compare old.json new.json' compares two runs.")
    b.add_argument("--suite", type=_choices(("all",) + _bench_suites()), default=["all"],
                   help="comma-separated: kernels, gemm, train, overhead, threads, seq or all (default: all)")
    b.add_argument("--threads", type=_int_list, default=[None],
                   help="comma-separated thread counts, e.g. 1,2 (default: fastgrad's current)")
    b.add_argument("--dtype", type=_choices(("float32", "float64")), default=["float32"],
                   help="comma-separated: float32, float64 (default: float32)")
    b.add_argument("--against", type=_choices(("numpy", "torch", "jax")), default=["numpy", "torch", "jax"],
                   help="comma-separated peers (each used only if installed; default: all three)")
    b.add_argument("--quick", action="store_true", help="fewer cases and a short budget: about a minute")
    b.add_argument("--budget", type=_positive(float), default=None,
                   help="seconds of timing per case (default: 2, or 0.3 with --quick)")
    b.add_argument("--json", default=None, help="write every sample and the machine description here")
    b.add_argument("--plot", default=None, help="write a PNG chart of the ratios here (needs matplotlib)")
    b.add_argument("--markdown", action="store_true", help="also print the results as a Markdown table")
    bsub = b.add_subparsers(dest="bench_command")
    c = bsub.add_parser("compare", help="speed-ups and slow-downs between two --json results")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--threshold", type=float, default=0.05,
                   help="smallest relative change to flag, on top of the runs' own spread (default 0.05)")
    c.add_argument("--fail-on-slower", action="store_true", help="exit status 1 when a case got slower")
    return p


def _bench_suites():
    from fastgrad.bench.harness import SUITES
    return SUITES


def _choices(allowed):
    def parse(text):
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(allowed)}; "
                                             f"got {text!r}")
        return items
    return parse


def _int_list(text):
    try:
        vals = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return vals


def _load_data(args):
    from fastgrad import datasets
    if args.dataset == "digits":
        X, y = datasets.load_digits()
    elif args.dataset == "moons":
        X, y = datasets.make_moons(args.samples, noise=0.2, seed=args.seed)
    elif args.dataset == "spirals":
        X, y = datasets.make_spirals(args.samples, n_classes=3, noise=0.2, seed=args.seed)
    else:
        X, y = datasets.make_blobs(args.samples, centers=4, n_features=8, cluster_std=2.0, seed=args.seed)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, test_size=args.test_size, seed=args.seed,
                                                   stratify=y)
    if args.dataset != "digits":      # standardise the generated features with train statistics
        mu = Xtr._data.mean(0)
        sd = Xtr._data.std(0) + 1e-8
        Xtr._data[...] = (Xtr._data - mu) / sd
        Xte._data[...] = (Xte._data - mu) / sd
    return Xtr, Xte, ytr, yte


def build_model(n_in, hidden, n_out, activation="relu", dropout=0.0):
    from fastgrad import nn
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU}[activation]
    layers = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _optimizer(args, params):
    from fastgrad import optim
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    wd = args.weight_decay
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=wd)
    if args.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if args.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd if wd else 1e-2)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd)
    return optim.Adagrad(params, lr=lr, weight_decay=wd)


def _fail(msg):
    """A user error: one line on stderr, exit status 1."""
    raise SystemExit(f"fastgrad train: {msg}")


def _check_args(args):
    """The option errors that can be found before any data is loaded."""
    if not 0.0 < args.test_size < 1.0:
        _fail(f"--test-size must be in (0, 1), got {args.test_size}")
    if not 0.0 <= args.dropout < 1.0:
        _fail(f"--dropout must be in [0, 1), got {args.dropout}")
    if not 0 <= args.seed < 2 ** 64:
        _fail(f"--seed must be in [0, 2**64), got {args.seed}")
    for name in ("momentum", "weight_decay"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v >= 0):
            _fail(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    if args.checkpoint is not None:
        _check_writable(args.checkpoint)
    # with --distributed only rank 0 reads the checkpoint and sends it to the others (which
    # may not see the file); a failure there is reported on every rank by the load itself
    if args.resume is not None and not getattr(args, "distributed", False):
        if not os.path.exists(args.resume):
            _fail(f"--resume {args.resume}: no such file")
        if os.path.isdir(args.resume):
            _fail(f"--resume {args.resume}: is a directory, not a checkpoint file")


def _check_writable(path):
    if not path:
        _fail("--checkpoint: empty path")
    if os.path.isdir(path):
        _fail(f"--checkpoint {path}: is a directory; give a file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        _fail(f"--checkpoint {path}: directory {d} does not exist")
    if not os.access(d, os.W_OK | os.X_OK):
        _fail(f"--checkpoint {path}: directory {d} is not writable")


def _read_checkpoint(path):
    import fastgrad as fg
    from fastgrad.serialization import CheckpointError
    try:
        ck = fg.load(path)
    except (CheckpointError, OSError) as e:
        _fail(f"--resume {path}: {str(e).removeprefix('load: ')}")
    if not isinstance(ck, dict) or not {"model", "optimizer", "epoch"} <= set(ck):
        _fail(f"--resume {path}: not a checkpoint written by 'fastgrad train --checkpoint' "
              "(no model, optimizer and epoch entries)")
    return ck


def _evaluate(model, X, y, batch=1024):
    import fastgrad as fg
    from fastgrad.nn import functional as F
    model.eval()
    correct, loss_sum = 0, 0.0
    with fg.no_grad():
        for i in range(0, X.shape[0], batch):
            xb, yb = X[i:i + batch], y[i:i + batch]
            out = model(xb)
            loss_sum += float(F.cross_entropy(out, yb, reduction="sum").item())
            correct += int((out._data.argmax(1) == yb._data).sum())
    model.train()
    n = max(X.shape[0], 1)
    return correct / n, loss_sum / n


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True)


def train(args, out=sys.stdout):
    import fastgrad as fg
    from fastgrad import optim
    from fastgrad.data import DataLoader, Generator, TensorDataset
    from fastgrad.nn import functional as F

    if getattr(args, "task", "mlp") == "charlm":
        return _train_charlm(args, out)
    if args.hidden is None:
        args.hidden = [128, 64]
    _check_args(args)
    dist, rank, world = None, 0, 1
    if getattr(args, "distributed", False):
        from fastgrad import distributed as dist
        if getattr(args, "compile", False):
            raise SystemExit("fastgrad train: --compile and --distributed cannot be combined yet "
                             "(a compiled plan does not run the gradient all-reduce)")
        if not dist.is_available():
            raise SystemExit("fastgrad train --distributed: needs mpi4py and an MPI runtime; "
                             'pip install "fastgrad[distributed]" and start with mpirun -n N')
        if not dist.is_initialized():
            dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
        if not args.threads:        # the ranks on one machine share its cores
            fg.set_num_threads(max(1, fg.get_num_threads() // dist._local_world_size()))
    if args.threads:
        fg.set_num_threads(args.threads)
    fg.set_default_dtype(args.dtype)
    fg.manual_seed(args.seed)
    try:
        Xtr, Xte, ytr, yte = _load_data(args)
    except ImportError as e:
        raise SystemExit(f"fastgrad train: {e}") from None
    except ValueError as e:         # e.g. too few --samples for the --test-size split
        _fail(f"--dataset {args.dataset}: {e}")
    except MemoryError:
        _fail(f"--samples {args.samples}: the data set does not fit in memory")
    n_classes = int(max(ytr._data.max(), yte._data.max())) + 1
    try:
        model = build_model(Xtr.shape[1], args.hidden, n_classes, args.activation, args.dropout)
    except MemoryError:
        _fail(f"--hidden {','.join(map(str, args.hidden))}: the model does not fit in memory")
    try:
        opt = _optimizer(args, model.parameters())
    except ValueError as e:
        _fail(f"--optimizer {args.optimizer}: {e}")
    gen = Generator()
    if dist is not None:
        from fastgrad.data import DistributedSampler
        from fastgrad.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model)       # the same start on every rank
        sampler = DistributedSampler(TensorDataset(Xtr, ytr), num_replicas=world, rank=rank,
                                     shuffle=True, seed=args.seed)
        loader = DataLoader(sampler.dataset, batch_size=args.batch_size, sampler=sampler)
    else:
        net, sampler = model, None
        loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=args.batch_size, shuffle=True,
                            generator=gen)
    steps_total = args.epochs * len(loader)
    if args.schedule == "cosine":
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps_total)
    elif args.schedule == "onecycle":
        # momentum (or Adam's beta1) cycles too where the optimizer has one (not Adagrad)
        cycle = "momentum" in opt.defaults or "betas" in opt.defaults
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"],
                                              total_steps=steps_total, cycle_momentum=cycle)
    else:
        sched = None
    start_epoch = 0
    if args.resume:
        if dist is not None:          # rank 0 reads, every rank gets the same state
            try:
                ck = dist.load_and_broadcast(args.resume)
            except RuntimeError as e:
                raise SystemExit(f"fastgrad train: --resume {args.resume}: {e}") from None
        else:
            ck = _read_checkpoint(args.resume)
        saved = ck.get("config") if isinstance(ck, dict) else None
        saved = saved if isinstance(saved, dict) else {}
        # the run must be the one that wrote the checkpoint: the model, the optimizer and
        # the lr schedule (laid out over --epochs) all come from these settings
        same = ("dataset", "samples", "hidden", "activation", "dropout", "epochs", "batch_size",
                "optimizer", "lr", "momentum", "weight_decay", "schedule", "test_size", "seed",
                "dtype")
        diff = [f"--{k.replace('_', '-')} {saved[k]!r} (now {getattr(args, k)!r})"
                for k in same if k in saved and saved[k] != getattr(args, k)]
        if diff:
            raise SystemExit(f"fastgrad train: {args.resume} was written by a run with other "
                             f"settings: " + ", ".join(diff) + "; resume with the same options")
        try:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            if sched is not None and "scheduler" in ck:
                sched.load_state_dict(ck["scheduler"])
            start_epoch = int(ck["epoch"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as e:
            raise SystemExit(f"fastgrad train: cannot resume from {args.resume}: {e}") from None
        if not 0 <= start_epoch <= args.epochs:
            _fail(f"cannot resume from {args.resume}: its epoch {start_epoch} is outside "
                  f"0..{args.epochs}")
    say = (lambda *a: None) if args.quiet or rank else (lambda *a: print(*a, file=out, flush=True))
    say(f"fastgrad {fg.__version__}: {args.dataset} ({Xtr.shape[0]} train / {Xte.shape[0]} test, "
        f"{Xtr.shape[1]} features, {n_classes} classes), MLP {Xtr.shape[1]}-"
        + "-".join(str(h) for h in args.hidden) + f"-{n_classes}, {args.optimizer}, "
        f"batch {args.batch_size}, {fg.get_num_threads()} threads"
        + (f", {world} processes (global batch {world * args.batch_size})" if dist else ""))
    show_bar = not (args.no_progress or args.quiet) and out.isatty() if hasattr(out, "isatty") else False
    show_bar = show_bar and rank == 0
    train_time, steps_done, samples_done = 0.0, 0, 0

    def step(xb, yb):
        logits = net(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss, logits
    compiled, told, traced = None, set(), 0   # --compile: say when steps run eagerly, and why
    if getattr(args, "compile", False):
        step = compiled = fg.compile(step, fallback="eager")
    end_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    if start_epoch >= end_epoch:
        say(f"{args.resume}: all {args.epochs} epochs are already trained; nothing to do")
    lr0 = opt.param_groups[0]["lr"]
    diverging = 1e3 * max(math.log(n_classes), 1.0)     # mean loss far above an untrained net's
    warned = False
    for epoch in range(start_epoch, end_epoch):
        # every epoch's shuffle and dropout masks depend only on (seed, epoch), so a run
        # resumed from a checkpoint continues exactly as the uninterrupted run would
        gen.manual_seed(args.seed * 1_000_003 + epoch)
        fg.manual_seed(args.seed * 1_000_003 + epoch + 7919 * rank)   # own dropout masks per rank
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = _progress(len(loader), f"epoch {epoch + 1}/{args.epochs}", show_bar)
        loss_sum, correct, seen = 0.0, 0, 0
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss, logits = step(xb, yb)
            if compiled is not None and compiled.traces != traced:
                traced = compiled.traces
                for why in (v["reason"] for v in compiled.plan_info() if v["mode"] == "eager"):
                    if why not in told:
                        told.add(why)
                        print(f"fastgrad train: --compile: training steps run eagerly (not "
                              f"compiled): {why}", file=sys.stderr, flush=True)
            if sched is not None:
                sched.step()
            n = yb.shape[0]
            lv = float(loss._data)
            if not math.isfinite(lv):
                _fail(f"the loss became {lv} at step {steps_done + 1} (epoch {epoch + 1}): training "
                      f"diverged; try a smaller --lr (this run's: {lr0:g})")
            loss_sum += lv * n
            correct += int((logits._data.argmax(1) == yb._data).sum())
            seen += n
            steps_done += 1
            if bar is not None:
                el = time.perf_counter() - t0
                bar.set_postfix(loss=f"{lv:.4f}", acc=f"{correct / seen:.3f}",
                                steps_s=f"{bar.n / el if el > 0 else 0:.0f}", refresh=False)
                bar.update(1)
        dt = time.perf_counter() - t0
        if dist is not None:           # the epoch's totals over all ranks
            tot = fg.tensor([loss_sum, float(correct), float(seen)], dtype=fg.float64)
            dist.all_reduce(tot)
            loss_sum, correct, seen = float(tot._data[0]), int(tot._data[1]), int(tot._data[2])
        train_time += dt
        samples_done += seen
        if bar is not None:
            bar.close()
        if not math.isfinite(loss_sum):
            _fail(f"the loss diverged (non-finite) in epoch {epoch + 1}; try a smaller --lr "
                  f"(this run's: {lr0:g})")
        if not warned and rank == 0 and loss_sum / max(seen, 1) > diverging:
            warned = True
            print(f"fastgrad train: warning: the mean loss {loss_sum / max(seen, 1):.4g} in epoch "
                  f"{epoch + 1} is far above an untrained model's (about {math.log(n_classes):.2f}); "
                  f"training is diverging: try a smaller --lr (this run's: {lr0:g})",
                  file=sys.stderr, flush=True)
        test_acc, test_loss = _evaluate(model, Xte, yte)
        say(f"epoch {epoch + 1:3d}/{args.epochs}  loss {loss_sum / max(seen, 1):.4f}  "
            f"train acc {correct / max(seen, 1):.4f}  test acc {test_acc:.4f}  "
            f"{len(loader) / dt if dt > 0 else 0:.0f} steps/s")
        if args.checkpoint:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                     "config": {k: (v if not isinstance(v, list) else list(v))
                                for k, v in vars(args).items() if k != "func"}}
            if sched is not None:
                state["scheduler"] = sched.state_dict()
            try:
                if dist is not None:
                    dist.save_on_rank0(state, args.checkpoint)
                else:
                    fg.save(state, args.checkpoint)
            except OSError as e:
                _fail(f"--checkpoint {args.checkpoint}: cannot write it after epoch {epoch + 1}: "
                      f"{e.strerror or e}")
    test_acc, test_loss = _evaluate(model, Xte, yte)
    thr = samples_done / train_time if train_time > 0 else float("nan")
    sps = steps_done / train_time if train_time > 0 else float("nan")
    if rank == 0:
        speed = (f"training {train_time:.2f} s, {sps:.0f} steps/s, {thr:.0f} samples/s"
                 + (f" over {world} processes" if dist else "")) if steps_done else "no training steps run"
        print(f"test accuracy {test_acc:.4f} (loss {test_loss:.4f}); {speed}", file=out, flush=True)
        if args.checkpoint:
            print(f"checkpoint: {os.path.abspath(args.checkpoint)}", file=out, flush=True)
    return {"test_accuracy": test_acc, "test_loss": test_loss, "train_time": train_time,
            "steps_per_s": sps, "samples_per_s": thr, "model": model}


def _train_charlm(args, out):
    """--task charlm: the option checks, then fastgrad.charlm.train."""
    from fastgrad import charlm
    for opt in ("checkpoint", "resume", "stop_after"):
        if getattr(args, opt, None) is not None:
            _fail(f"--{opt.replace('_', '-')} is not supported with --task charlm")
    if getattr(args, "distributed", False):
        _fail("--distributed is not supported with --task charlm")
    if not 0.0 <= args.dropout < 1.0:
        _fail(f"--dropout must be in [0, 1), got {args.dropout}")
    if not 0 <= args.seed < 2 ** 64:
        _fail(f"--seed must be in [0, 2**64), got {args.seed}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        _fail(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if args.sample_chars < 0:
        _fail(f"--sample-chars must be >= 0, got {args.sample_chars}")
    if args.hidden is not None and len(args.hidden) != 1:
        _fail(f"--task charlm takes one --hidden width, got {','.join(map(str, args.hidden))}")
    if args.model == "transformer":
        width = args.d_model or (args.hidden[0] if args.hidden else 64)
        if width % args.heads:
            _fail(f"--d-model {width} is not divisible by --heads {args.heads}")
    else:
        if args.d_model is not None:
            _fail(f"--d-model is the transformer's width; --model {args.model} takes --hidden")
        width = args.hidden[0] if args.hidden else 128
    args.hidden_size = width
    if args.layers is None:
        args.layers = 2 if args.model == "transformer" else 1
    try:
        return charlm.train(args, out)
    except MemoryError:
        _fail(f"--model {args.model} with width {width} and --batch-size {args.batch_size}: "
              "does not fit in memory")


def main(argv=None):
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away (``fastgrad train | head``): stop quietly; stdout goes to
        # /dev/null so that the interpreter's final flush does not fail again
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except KeyboardInterrupt:
        print("fastgrad: interrupted", file=sys.stderr, flush=True)
        return 130


def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "info":
        import fastgrad as fg
        fg.show_config()
        return 0
    if args.command == "bench":
        from fastgrad import bench
        _check_bench_args(args)
        return bench.main(args)
    if getattr(args, "distributed", False):
        return _train_distributed(args)
    train(args)
    return 0


def _check_bench_args(args):
    """The bench options that can fail: checked before any timing starts."""
    if args.bench_command == "compare":
        from fastgrad.bench.harness import load_run
        for path in (args.old, args.new):
            try:
                load_run(path)
            except (OSError, ValueError) as e:
                raise SystemExit(f"fastgrad bench compare: cannot read {path}: "
                                 f"{getattr(e, 'strerror', None) or e}") from None
        return
    for opt in ("json", "plot"):
        path = getattr(args, opt)
        if path is None:
            continue
        d = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(d):
            raise SystemExit(f"fastgrad bench: --{opt} {path}: "
                             + ("is a directory" if os.path.isdir(path)
                                else f"directory {d} does not exist"))
    if args.plot is not None:
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            raise SystemExit("fastgrad bench: --plot needs matplotlib: pip install matplotlib")


def _train_distributed(args):
    """train() on every rank of the job; a rank that stops with an error ends the whole job
    (MPI Abort) instead of leaving the others waiting in a collective."""
    try:
        train(args)
    except SystemExit as e:
        if e.code in (None, 0):
            raise
        from fastgrad import distributed as dist
        print(e.code if isinstance(e.code, str) else f"exit status {e.code}", file=sys.stderr,
              flush=True)
        if dist.is_initialized() and dist.get_world_size() > 1:
            from mpi4py import MPI
            MPI.COMM_WORLD.Abort(e.code if isinstance(e.code, int) else 1)
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
