"""Training helpers: DataLoader, fit, evaluate, train()/eval() mode, predict, the cache check,
array-like targets and init='torch'."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import (SGD, BatchNorm1d, CrossEntropyLoss, DataLoader, Dropout, Linear, MSELoss,
                    ReLU, Residual, Sequential)
from fastnn.data import minibatches


def mlp(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(6, 8, rng=rng, dtype=dtype), BatchNorm1d(8, dtype=dtype), ReLU(),
                      Dropout(0.3, seed=seed), Linear(8, 3, rng=rng, dtype=dtype))


def toy_data(rng, n=23, dtype=np.float64):
    x = rng.standard_normal((n, 6)).astype(dtype)
    y = rng.integers(0, 3, n)
    return x, y


# --------------------------------------------------------------------------- DataLoader

@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("drop_last", [False, True], ids=["keep_last", "drop_last"])
def test_dataloader_covers_every_sample_once_per_epoch(shuffle, drop_last):
    x = np.arange(10.0)[:, None] * np.ones((1, 3))
    y = np.arange(10)
    loader = DataLoader(x, y, batch_size=4, shuffle=shuffle, drop_last=drop_last, seed=3)
    assert len(loader) == (2 if drop_last else 3)
    orders = []
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader)
        assert [len(b[1]) for b in batches] == ([4, 4] if drop_last else [4, 4, 2])
        seen = np.concatenate([yb for _, yb in batches])
        assert len(set(seen.tolist())) == len(seen)          # no sample twice
        if not drop_last:
            assert sorted(seen.tolist()) == list(range(10))  # every sample
        for xb, yb in batches:
            assert xb.flags.c_contiguous and yb.flags.c_contiguous
            np.testing.assert_array_equal(xb[:, 0], yb)      # rows stay paired
        orders.append(seen.tolist())
    if shuffle:
        assert orders[0] != orders[1] and orders[0] != list(range(len(orders[0])))
    else:
        assert orders[0] == orders[1] == list(range(len(orders[0])))


def test_dataloader_seed_gives_the_hand_written_epochs(rng):
    x, y = toy_data(rng)
    loader = DataLoader(x, y, batch_size=5, shuffle=True, seed=7)
    hand = np.random.default_rng(7)
    for _ in range(3):
        for (xb, yb), (xh, yh) in zip(loader, minibatches(x, y, 5, hand), strict=True):
            np.testing.assert_array_equal(xb, xh)
            np.testing.assert_array_equal(yb, yh)
    again = [yb.tolist() for yb in (b[1] for b in DataLoader(x, y, 5, True, seed=7))]
    assert again == [yb.tolist() for _, yb in minibatches(x, y, 5, np.random.default_rng(7))]


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(y=np.arange(3)), ValueError, "same length"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.0), TypeError, "batch_size"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(drop_last=1), TypeError, "drop_last"),
    (dict(seed=1.5), TypeError, "seed"),
], ids=["length", "batch0", "batch_float", "shuffle", "drop_last", "seed"])
def test_dataloader_bad_arguments(kwargs, exc, words):
    args = dict(x=np.zeros((4, 2)), y=np.arange(4), batch_size=2)
    args.update(kwargs)
    with pytest.raises(exc, match=words):
        DataLoader(**args)


# --------------------------------------------------------------------------- fit / evaluate

@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_fit_gives_the_same_weights_as_the_hand_written_loop(backend, rng):
    x, y = toy_data(rng)
    x_val, y_val = toy_data(rng, 9)
    with fastnn.backend(backend):
        hand, auto = mlp(), mlp()
        loss_h, loss_a = CrossEntropyLoss(), CrossEntropyLoss()
        opt_h, opt_a = SGD(hand, lr=0.1, momentum=0.9), SGD(auto, lr=0.1, momentum=0.9)
        order = np.random.default_rng(5)
        losses = []
        for _ in range(3):
            total = 0.0
            for xb, yb in minibatches(x, y, 4, order):
                loss = loss_h(hand.forward(xb), yb)
                hand.backward(loss_h.backward())
                opt_h.step()
                total += float(loss) * len(xb)
            losses.append(total / len(x))
        history = fastnn.fit(auto, loss_a, opt_a, DataLoader(x, y, 4, shuffle=True, seed=5),
                             epochs=3, val_data=(x_val, y_val), progress=False)
    for (name, a), (_, b) in zip(sorted(hand.state_dict().items()),
                                 sorted(auto.state_dict().items())):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
    assert all(len(v) == 3 for v in history.values())
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12)
    with fastnn.backend(backend):
        val = fastnn.evaluate(auto, CrossEntropyLoss(), (x_val, y_val))
    assert history["val_loss"][-1] == pytest.approx(val[0], rel=1e-12)
    assert history["val_accuracy"][-1] == val[1]
    assert auto.training and auto[3].training


def test_fit_history_accuracy_is_the_running_accuracy(rng):
    x, y = toy_data(rng, 12)
    hand, auto = mlp(), mlp()
    loss_h, opt_h = CrossEntropyLoss(), SGD(hand, lr=0.01)
    correct = 0
    for xb, yb in minibatches(x, y, 5):
        out = hand.forward(xb)
        loss_h(out, yb)
        hand.backward(loss_h.backward())
        opt_h.step()
        correct += int(np.sum(np.argmax(out, 1) == yb))
    history = fastnn.fit(auto, CrossEntropyLoss(), SGD(auto, lr=0.01), DataLoader(x, y, 5),
                         epochs=1, progress=False)
    assert history["accuracy"] == [correct / len(x)]
    assert set(history) == {"loss", "accuracy", "time"}


def test_fit_callbacks_and_early_stopping(rng):
    x, y = toy_data(rng, 8)
    seen = []

    class Stopper:
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, sorted(logs)))
            return epoch == 1

    model = mlp()
    history = fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), DataLoader(x, y, 4),
                         epochs=5, callbacks=[Stopper(), lambda e, logs: None], progress=False)
    assert len(history["loss"]) == 2
    assert seen == [(0, ["accuracy", "loss", "time"]), (1, ["accuracy", "loss", "time"])]
    with pytest.raises(TypeError, match="callback"):
        fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), DataLoader(x, y, 4),
                   callbacks=[3], progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), DataLoader(x, y, 4),
                   epochs=0, progress=False)
    with pytest.raises(TypeError, match="train_loader"):
        fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), x, progress=False)


def test_fit_shows_a_progress_bar_that_can_be_turned_off(rng, capsys):
    pytest.importorskip("tqdm")
    x, y = toy_data(rng, 8)
    model = mlp()
    fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), DataLoader(x, y, 4), epochs=2,
               val_data=(x, y))
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "val_acc=" in err and "loss=" in err
    fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01), DataLoader(x, y, 4), epochs=2,
               progress=False)
    assert capsys.readouterr().err == ""


def test_fit_regression_has_nan_accuracy(rng):
    x = rng.standard_normal((8, 6))
    y = rng.standard_normal((8, 3))
    model = mlp()
    history = fastnn.fit(model, MSELoss(), SGD(model, lr=0.01), DataLoader(x, y, 4),
                         progress=False)
    assert np.isnan(history["accuracy"][0]) and history["loss"][0] > 0


def test_evaluate_matches_a_manual_computation_and_keeps_the_training_pass(rng):
    x, y = toy_data(rng, 11)
    model, loss_fn = mlp(), CrossEntropyLoss()
    ref_model = mlp()
    out = model.predict(x)
    manual = float(fastnn.functional.cross_entropy(out, y))
    loss, acc = fastnn.evaluate(model, loss_fn, DataLoader(x, y, batch_size=4))
    assert loss == pytest.approx(manual, rel=1e-12)
    assert acc == np.mean(np.argmax(out, 1) == y) == fastnn.accuracy(model, x, y)
    # evaluate between a training forward and its backward changes nothing
    loss_fn(model.forward(x[:5]), y[:5])
    fastnn.evaluate(model, loss_fn, (x, y))
    g = model.backward(loss_fn.backward())
    ref_loss = CrossEntropyLoss()
    ref_loss(ref_model.forward(x[:5]), y[:5])
    np.testing.assert_array_equal(g, ref_model.backward(ref_loss.backward()))


# --------------------------------------------------------------------------- modes, predict

def test_train_and_eval_set_the_mode_forward_uses(rng):
    x, _ = toy_data(rng, 7)
    model = mlp()
    assert model.train() is model and model.eval() is model
    assert not any(layer.training for _, layer in model.named_layers())
    ref = mlp()
    np.testing.assert_array_equal(model.forward(x), ref.forward(x, training=False))
    np.testing.assert_array_equal(model(x), ref(x, training=False))
    assert model[3].forward(x[:, :3]) is x[:, :3] or \
        np.array_equal(model[3].forward(x[:, :3]), x[:, :3])        # dropout: identity
    model.train()
    np.testing.assert_array_equal(model.forward(x), ref.forward(x, training=True))
    model.eval()
    np.testing.assert_array_equal(model.forward(x, training=True), ref.forward(x, True))
    with pytest.raises(TypeError, match="mode"):
        model.train("no")


@pytest.mark.parametrize("batch_size", [1, 3, None, 256])
def test_predict_is_batched_eval_mode_and_keeps_no_cache(batch_size, rng):
    x, y = toy_data(rng, 7)
    model, ref, ref_eval = mlp(), mlp(), mlp()
    ref_eval.forward(x[:4])                                # the same running statistics
    expected = ref_eval.forward(x, training=False)
    loss_fn, ref_loss = CrossEntropyLoss(), CrossEntropyLoss()
    loss_fn(model.forward(x[:4]), y[:4])                  # a training pass ...
    out = model.predict(x, batch_size=batch_size)          # ... predict in between ...
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    g = model.backward(loss_fn.backward())                 # ... still differentiates it
    ref_loss(ref.forward(x[:4]), y[:4])
    np.testing.assert_array_equal(g, ref.backward(ref_loss.backward()))
    assert model.training
    fresh = mlp()
    fresh.predict(x, batch_size=batch_size)
    assert all(layer._cache is None for _, layer in fresh.named_layers())
    with pytest.raises(RuntimeError, match="before forward"):
        fresh.backward(np.ones((7, 3)))


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (2.5, TypeError)])
def test_predict_bad_batch_size(bad, exc, rng):
    with pytest.raises(exc, match="batch_size"):
        mlp().predict(toy_data(rng, 3)[0], batch_size=bad)


def test_a_second_forward_before_backward_raises_or_works(rng):
    x, y = toy_data(rng, 6)
    det = Sequential(Linear(6, 8, dtype=np.float64, rng=0), ReLU(),
                     Linear(8, 3, dtype=np.float64, rng=1))
    for model in (det, mlp(), Linear(6, 3, dtype=np.float64, rng=0)):
        model.forward(x[:3])
        model.forward(x[3:])                               # another batch, same shape
        with pytest.raises(RuntimeError, match=r"forward\(\) ran more than once .* shape "
                                               r"\(3, 3\)"):
            model.backward(np.ones((3, 3)))
        model.forward(x)                                   # a fresh pass works again
        g1 = model.backward(np.ones((6, 3)))
        g2 = model.backward(np.ones((6, 3)))               # backward twice: same pass
        np.testing.assert_array_equal(g1, g2)
        model.forward(x[:2])                               # the shapes tell them apart
        model.forward(x)
        model.backward(np.ones((6, 3)))
        model.forward(x[:2])
        model.forward(x)
        with pytest.raises(RuntimeError, match=r"shape \(2, 3\)"):
            model.backward(np.ones((2, 3)))                # the first forward's gradient
    # the same input twice is the same computation, unless a layer draws random numbers
    for model, ok in ((det, True), (mlp(), False)):
        model.forward(x)
        model.forward(x)
        if ok:
            np.testing.assert_array_equal(model.backward(np.ones((6, 3))), g_ref(x))
        else:
            with pytest.raises(RuntimeError, match="random layers"):
                model.backward(np.ones((6, 3)))
        model.forward(x, training=False)                   # evaluation: no dropout mask
        model.forward(x, training=False)
        model.backward(np.ones((6, 3)))
    block = Residual(Linear(6, 6, dtype=np.float64, rng=0), ReLU())
    block.forward(x)                                       # counts once, not per sub-layer
    block.forward(x)
    assert block.backward(np.ones((6, 6))).shape == (6, 6)


def g_ref(x):
    ref = Sequential(Linear(6, 8, dtype=np.float64, rng=0), ReLU(),
                     Linear(8, 3, dtype=np.float64, rng=1))
    ref.forward(x)
    return ref.backward(np.ones((6, 3)))


def test_a_layer_used_alone_and_in_a_container(rng):
    x = rng.standard_normal((4, 6))
    a = Linear(6, 3, dtype=np.float64, rng=0)
    model = Sequential(a, ReLU())
    a.forward(x)
    model.forward(x + 1)                                   # a runs again, on another input
    with pytest.raises(RuntimeError, match="more than once"):
        a.backward(np.ones((4, 3)))
    model = Sequential(a, ReLU())
    a.forward(x)
    model.forward(x)                                       # the same input: fine
    model.backward(np.ones((4, 3)))
    a.forward(x)
    assert a.backward(np.ones((4, 3))).shape == (4, 6)


# --------------------------------------------------------------------------- targets

def test_cross_entropy_takes_integer_array_likes():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    loss = CrossEntropyLoss()
    ref = float(CrossEntropyLoss()(logits, np.array([1, 2])))
    for target in ([1, 2], (1, 2), np.array([1, 2], dtype=np.int32)):
        assert float(loss(logits, target)) == pytest.approx(ref, rel=1e-15)
        assert loss.backward().shape == (2, 3)
    with pytest.raises(TypeError, match="integer"):
        loss(logits, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\]"):
        loss(logits, [1, 3])
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\]"):
        loss(logits, [-1, 0])


def test_fit_with_list_targets(rng):
    x, y = toy_data(rng, 8)
    model = mlp()
    history = fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01),
                         DataLoader(x, y.tolist(), 4), progress=False)
    assert np.isfinite(history["loss"][0])
    with pytest.raises(TypeError, match="integer"):
        fastnn.fit(model, CrossEntropyLoss(), SGD(model, lr=0.01),
                   DataLoader(x, y.astype(float), 4), progress=False)


# --------------------------------------------------------------------------- init='torch'

@pytest.mark.parametrize("make, fan_in", [
    (lambda: Linear(300, 200, weight_init="torch", rng=1), 300),
    (lambda: fastnn.Conv2d(20, 64, 5, weight_init="torch", rng=1), 20 * 25),
], ids=["linear", "conv2d"])
def test_torch_init_bounds_and_statistics(make, fan_in):
    layer = make()
    bound = 1.0 / math.sqrt(fan_in)
    w, b = layer.params["weight"], layer.params["bias"]
    for a in (w, b):
        assert np.abs(a).max() <= bound and a.dtype == np.float32
    assert np.abs(w).max() > 0.999 * bound                  # U(-b, b) reaches the bound
    assert np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(np.mean(w)) < 0.02 * bound
    assert np.abs(b).max() > 0.5 * bound and np.std(b) > 0.3 * bound
    assert not np.allclose(b, w.reshape(-1)[:len(b)])        # its own stream
    again = make()
    np.testing.assert_array_equal(again.params["weight"], w)
    np.testing.assert_array_equal(again.params["bias"], b)
    assert np.all(Linear(3, 4).params["bias"] == 0)          # the default stays zeros


def test_torch_init_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for ours, theirs in [(Linear(300, 200, weight_init="torch", rng=0), torch.nn.Linear(300, 200)),
                         (fastnn.Conv2d(20, 64, 5, weight_init="torch", rng=0),
                          torch.nn.Conv2d(20, 64, 5))]:
        tw = theirs.weight.detach().numpy()
        tb = theirs.bias.detach().numpy()
        fan_in = tw[0].size
        # torch's own bound: calculate_gain('leaky_relu', sqrt(5)) * sqrt(3 / fan_in)
        torch_bound = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) * \
            math.sqrt(3.0 / fan_in)
        assert torch_bound == pytest.approx(1.0 / math.sqrt(fan_in), rel=1e-12)
        w, b = ours.params["weight"], ours.params["bias"]
        assert w.shape == tw.shape and b.shape == tb.shape
        for a, t in ((w, tw), (b, tb)):
            assert np.abs(a).max() <= torch_bound and np.abs(t).max() <= torch_bound
        assert np.abs(w).max() == pytest.approx(np.abs(tw).max(), rel=1e-3)
        assert np.std(w) == pytest.approx(np.std(tw), rel=0.03)
        assert np.std(b) == pytest.approx(np.std(tb), rel=0.35)


class _Shift(fastnn.Layer):
    """y = x + h (h defaults to 0): a layer with an extra forward argument, as recurrent ones."""

    def forward(self, x, training=True, h=None):
        self._cache = x
        return x + (0.0 if h is None else h)

    def backward(self, grad_output):
        self._saved()
        return grad_output


def test_forwards_with_other_arguments_are_different_computations():
    layer, x, g = _Shift(), np.ones((2, 3)), np.ones((2, 3))
    layer.forward(x)
    layer.forward(x)
    layer.backward(g)                                      # the same computation twice
    layer.forward(x, h=np.ones(3))
    layer.forward(x, True, np.zeros(3))
    with pytest.raises(RuntimeError, match="more than once"):
        layer.backward(g)
    assert not layer.eval().training and layer.forward(x, h=None).shape == (2, 3)


def test_recurrent_layers_follow_the_mode(rng):
    rnn = fastnn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    x = rng.standard_normal((5, 2, 3))
    rnn.eval()
    np.testing.assert_array_equal(rnn(x), rnn(x, training=False))   # no dropout in eval
    rnn.train()
    assert not np.array_equal(rnn(x), rnn(x))                        # fresh masks each call


def test_models_pickle_and_copy_after_a_forward(rng):
    """The record of forwards (a weak reference) travels with neither a pickle nor a copy."""
    import copy
    import pickle

    model = mlp()
    x = rng.standard_normal((4, 6))
    model.forward(x)
    for _, layer in model.named_layers():
        layer._cache = None  # caches hold the backend module, which does not pickle
    clone = copy.deepcopy(model)
    assert "_pass" not in clone.__dict__ and "_pass" in model.__dict__
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    clone.forward(x)
    assert clone.backward(np.ones((4, 3))).shape == (4, 6)
