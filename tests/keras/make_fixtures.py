"""Writes Keras model files the way each Keras version lays them out, with
h5py (an HDF5 writer independent of h5wasm), plus the probabilities of a
NumPy forward pass written here, for tests/keras/. Tests only.

Usage: make_fixtures.py OUTDIR MNIST_TEST_IMAGES_IDX

Layouts, from Keras's own saving code:
- keras2_sequential.h5: keras 2.2.4 keras/engine/saving.py `save_model` and
  `save_weights_to_hdf5_group`: root attrs keras_version, backend,
  model_config (bytes); group model_weights with attrs layer_names, backend,
  keras_version; per layer a group with attr weight_names (bytes) and
  datasets "<layer>/kernel:0".
- tfkeras2_functional.h5: tf-keras keras/saving/legacy/hdf5_format.py, the
  same groups; a "Functional" config with InputLayer and inbound_nodes.
- keras3_legacy.h5: keras/src/legacy/saving/legacy_h5_format.py: the same
  groups; the config in Keras 3's form (module, registered_name, dtype
  policies, batch_shape); weight names are variable paths.
- keras3.keras: keras/src/saving/saving_lib.py: a zip of config.json,
  metadata.json and model.weights.h5 with layers/<snake_case>/vars/<i>.
- bad/: files a reader must refuse.
Writes expected.json: {"images": [[784 floats]...], "<file>": [[10 probs]...]}.
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np

out, idx = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "bad"), exist_ok=True)
rng = np.random.default_rng(7)
raw = np.frombuffer(open(idx, "rb").read()[16:], dtype=np.uint8)
images = (raw[: 8 * 784].reshape(8, 28, 28).astype(np.float32) / 255.0)


def conv(x, k, b, padding):
    kh, kw = k.shape[:2]
    if padding == "same":
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
        x = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    n, h, w, c = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    y = np.zeros((n, oh, ow, k.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,co->nhwo", x[:, i:i + oh, j:j + ow, :], k[i, j])
    return y + b


def pool(x, mode):
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    return x.max(axis=(2, 4)) if mode == "max" else x.mean(axis=(2, 4))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


relu = lambda v: np.maximum(v, 0)

# Model A (Sequential): Conv2D(4, 3x3, relu) → MaxPooling2D → [SpatialDropout2D →] Dropout → Flatten → Dense(10, softmax)
A = {
    "k1": rng.normal(0, 0.4, (3, 3, 1, 4)).astype(np.float32),
    "b1": rng.normal(0, 0.1, (4,)).astype(np.float32),
    "k2": rng.normal(0, 0.1, (676, 10)).astype(np.float32),
    "b2": rng.normal(0, 0.1, (10,)).astype(np.float32),
}


def forward_a(x):
    h = relu(conv(x[..., None], A["k1"], A["b1"], "valid"))
    h = pool(h, "max").reshape(len(x), -1)
    return softmax(h @ A["k2"] + A["b2"])


# Model B (functional): Input(28,28) → Reshape(28,28,1) → Conv2D(3, 3x3, same, relu)
# → BatchNormalization → AveragePooling2D → GlobalAveragePooling2D → Dense(10, softmax)
B = {
    "k1": rng.normal(0, 0.4, (3, 3, 1, 3)).astype(np.float32),
    "b1": rng.normal(0, 0.1, (3,)).astype(np.float32),
    "gamma": rng.uniform(0.5, 1.5, (3,)).astype(np.float32),
    "beta": rng.normal(0, 0.1, (3,)).astype(np.float32),
    "mean": rng.uniform(0, 0.3, (3,)).astype(np.float32),
    "var": rng.uniform(0.5, 1.5, (3,)).astype(np.float32),
    "k2": rng.normal(0, 1.0, (3, 10)).astype(np.float32),
    "b2": rng.normal(0, 0.1, (10,)).astype(np.float32),
}


def forward_b(x):
    h = relu(conv(x[..., None], B["k1"], B["b1"], "same"))
    h = (h - B["mean"]) / np.sqrt(B["var"] + 1e-3) * B["gamma"] + B["beta"]
    h = pool(h, "avg").mean(axis=(1, 2))
    return softmax(h @ B["k2"] + B["b2"])


init = {"class_name": "GlorotUniform", "config": {"seed": None}}
zeros = {"class_name": "Zeros", "config": {}}


def k2_layer(cls, name, cfg, inbound=None):
    layer = {"class_name": cls, "config": {"name": name, "trainable": True, **cfg}}
    if inbound is not None:
        layer["name"] = name
        layer["inbound_nodes"] = inbound
    return layer


conv_cfg = lambda filters, padding: {
    "filters": filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": padding,
    "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "relu",
    "use_bias": True, "kernel_initializer": init, "bias_initializer": zeros,
    "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None}
dense_cfg = {"units": 10, "activation": "softmax", "use_bias": True,
             "kernel_initializer": init, "bias_initializer": zeros,
             "kernel_regularizer": None, "bias_regularizer": None,
             "activity_regularizer": None, "kernel_constraint": None,
             "bias_constraint": None}

seq_config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
    k2_layer("Conv2D", "conv2d_1", {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32", **conv_cfg(4, "valid")}),
    k2_layer("MaxPooling2D", "max_pooling2d_1", {"pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}),
    k2_layer("SpatialDropout2D", "spatial_dropout2d_1", {"rate": 0.1, "noise_shape": None, "seed": None}),
    k2_layer("Dropout", "dropout_1", {"rate": 0.25, "noise_shape": None, "seed": None}),
    k2_layer("Flatten", "flatten_1", {"data_format": "channels_last"}),
    k2_layer("Dense", "dense_1", dense_cfg),
]}}


def write_keras2(path, config, weights, version, backend=b"tensorflow"):
    """keras 2.2.4 saving.save_model / save_weights_to_hdf5_group."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = backend
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        names = [l["config"]["name"] for l in config["config"]["layers"]]
        g.attrs["layer_names"] = [n.encode("utf8") for n in names]
        g.attrs["backend"] = backend
        g.attrs["keras_version"] = version
        for n in names:
            lg = g.create_group(n)
            ws = weights.get(n, [])
            lg.attrs["weight_names"] = [w[0].encode("utf8") for w in ws] if ws else np.asarray([])
            for wname, val in ws:
                lg.create_dataset(wname, data=val)


write_keras2(os.path.join(out, "keras2_sequential.h5"), seq_config, {
    "conv2d_1": [("conv2d_1/kernel:0", A["k1"]), ("conv2d_1/bias:0", A["b1"])],
    "dense_1": [("dense_1/kernel:0", A["k2"]), ("dense_1/bias:0", A["b2"])],
}, b"2.2.4")

fun_config = {"class_name": "Functional", "config": {"name": "model", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28], "dtype": "float32", "sparse": False, "ragged": False, "name": "input_1"}, "name": "input_1", "inbound_nodes": []},
    k2_layer("Reshape", "reshape", {"dtype": "float32", "target_shape": [28, 28, 1]}, [[["input_1", 0, 0, {}]]]),
    k2_layer("Conv2D", "conv2d", {"dtype": "float32", **conv_cfg(3, "same")}, [[["reshape", 0, 0, {}]]]),
    k2_layer("BatchNormalization", "batch_normalization", {"dtype": "float32", "axis": [3], "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
        "beta_initializer": zeros, "gamma_initializer": {"class_name": "Ones", "config": {}}, "moving_mean_initializer": zeros,
        "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None, "gamma_regularizer": None,
        "beta_constraint": None, "gamma_constraint": None}, [[["conv2d", 0, 0, {}]]]),
    k2_layer("AveragePooling2D", "average_pooling2d", {"dtype": "float32", "pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}, [[["batch_normalization", 0, 0, {}]]]),
    k2_layer("GlobalAveragePooling2D", "global_average_pooling2d", {"dtype": "float32", "data_format": "channels_last", "keepdims": False}, [[["average_pooling2d", 0, 0, {}]]]),
    k2_layer("Dense", "dense", {"dtype": "float32", **dense_cfg}, [[["global_average_pooling2d", 0, 0, {}]]]),
], "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}, "keras_version": "2.13.1", "backend": "tensorflow"}
write_keras2(os.path.join(out, "tfkeras2_functional.h5"), {k: fun_config[k] for k in ("class_name", "config")}, {
    "conv2d": [("conv2d/kernel:0", B["k1"]), ("conv2d/bias:0", B["b1"])],
    "batch_normalization": [("batch_normalization/gamma:0", B["gamma"]), ("batch_normalization/beta:0", B["beta"]),
                            ("batch_normalization/moving_mean:0", B["mean"]), ("batch_normalization/moving_variance:0", B["var"])],
    "dense": [("dense/kernel:0", B["k2"]), ("dense/bias:0", B["b2"])],
}, "2.13.1")

# Keras 3 serialization of model A.
policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
ser = lambda module, cls, cfg: {"module": module, "class_name": cls, "config": cfg, "registered_name": None}
k3init = ser("keras.initializers", "GlorotUniform", {"seed": None})
k3zeros = ser("keras.initializers", "Zeros", {})
k3conv = {"name": "conv2d", "trainable": True, "dtype": policy, "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
          "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu",
          "use_bias": True, "kernel_initializer": k3init, "bias_initializer": k3zeros, "kernel_regularizer": None,
          "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
k3_layers = [
    ser("keras.layers", "InputLayer", {"batch_shape": [None, 28, 28, 1], "dtype": "float32", "sparse": False, "name": "input_layer"}),
    {**ser("keras.layers", "Conv2D", k3conv), "build_config": {"input_shape": [None, 28, 28, 1]}},
    {**ser("keras.layers", "MaxPooling2D", {"name": "max_pooling2d", "trainable": True, "dtype": policy, "pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}), "build_config": {"input_shape": [None, 26, 26, 4]}},
    {**ser("keras.layers", "Dropout", {"name": "dropout", "trainable": True, "dtype": policy, "rate": 0.25, "seed": None, "noise_shape": None}), "build_config": {"input_shape": [None, 13, 13, 4]}},
    {**ser("keras.layers", "Flatten", {"name": "flatten", "trainable": True, "dtype": policy, "data_format": "channels_last"}), "build_config": {"input_shape": [None, 13, 13, 4]}},
    {**ser("keras.layers", "Dense", {"name": "dense", "trainable": True, "dtype": policy, "units": 10, "activation": "softmax", "use_bias": True,
        "kernel_initializer": k3init, "bias_initializer": k3zeros, "kernel_regularizer": None, "bias_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}), "build_config": {"input_shape": [None, 676]}},
]
k3_config = {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": True, "dtype": policy, "layers": k3_layers},
             "registered_name": None, "build_config": {"input_shape": [None, 28, 28, 1]}, "compile_config": None}

# Keras 3 legacy h5 (legacy_h5_format.save_model_to_hdf5): weight names are variable paths.
with h5py.File(os.path.join(out, "keras3_legacy.h5"), "w") as f:
    f.attrs["keras_version"] = "3.6.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps({k: k3_config[k] for k in ("class_name", "config")} | {"module": "keras", "registered_name": None})
    g = f.create_group("model_weights")
    names = ["conv2d", "max_pooling2d", "dropout", "flatten", "dense"]
    g.attrs["layer_names"] = [n.encode("utf8") for n in names]
    g.attrs["backend"] = "tensorflow"
    g.attrs["keras_version"] = "3.6.0"
    for n in names:
        lg = g.create_group(n)
        ws = {"conv2d": [("sequential/conv2d/kernel", A["k1"]), ("sequential/conv2d/bias", A["b1"])],
              "dense": [("sequential/dense/kernel", A["k2"]), ("sequential/dense/bias", A["b2"])]}.get(n, [])
        lg.attrs["weight_names"] = [w[0].encode("utf8") for w in ws] if ws else np.asarray([])
        for wname, val in ws:
            lg.create_dataset(wname, data=val)


def write_keras3(path, config, members=("config.json", "metadata.json", "model.weights.h5"), bomb=False, raw_config=None):
    """saving_lib.save_model: zip of config.json, metadata.json, model.weights.h5."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as w:
        for name, vals in (("conv2d", [A["k1"], A["b1"]]), ("dense", [A["k2"], A["b2"]])):
            v = w.create_group(f"layers/{name}").create_group("vars")
            for i, val in enumerate(vals):
                v[str(i)] = val
        for name in ("max_pooling2d", "dropout", "flatten"):
            w.create_group(f"layers/{name}").create_group("vars")
        w.create_group("optimizer").create_group("vars")
        w.create_group("vars")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if "metadata.json" in members:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2026-11-28@12:00:00"}))
        if "config.json" in members:
            z.writestr("config.json", raw_config if raw_config is not None else json.dumps(config))
        if "model.weights.h5" in members:
            z.writestr("model.weights.h5", buf.getvalue())
        if bomb:
            z.writestr("model.weights.h5", b"\0" * (600 * 1024 * 1024))


write_keras3(os.path.join(out, "keras3.keras"), k3_config)

expected = {"images": images.reshape(8, 784).tolist()}
for name in ("keras2_sequential.h5", "keras3_legacy.h5", "keras3.keras"):
    expected[name] = forward_a(images).tolist()
expected["tfkeras2_functional.h5"] = forward_b(images).tolist()
json.dump(expected, open(os.path.join(out, "expected.json"), "w"))

# Bad files.
bad = os.path.join(out, "bad")
open(os.path.join(bad, "text.h5"), "w").write("not an HDF5 file\n")
whole = open(os.path.join(out, "keras2_sequential.h5"), "rb").read()
open(os.path.join(bad, "truncated.h5"), "wb").write(whole[: len(whole) // 3])
with h5py.File(os.path.join(bad, "weights_only.h5"), "w") as f:
    f.create_group("conv2d_1").create_dataset("kernel:0", data=A["k1"])
lstm = json.loads(json.dumps(seq_config))
lstm["config"]["layers"].insert(3, k2_layer("LSTM", "lstm_1", {"units": 8}))
write_keras2(os.path.join(bad, "unsupported_layer.h5"), lstm, {}, b"2.2.4")
chfirst = json.loads(json.dumps(seq_config))
chfirst["config"]["layers"][0]["config"]["data_format"] = "channels_first"
write_keras2(os.path.join(bad, "channels_first.h5"), chfirst, {}, b"2.2.4")
write_keras2(os.path.join(bad, "missing_weight.h5"), seq_config, {
    "conv2d_1": [("conv2d_1/kernel:0", A["k1"]), ("conv2d_1/bias:0", A["b1"])],
}, b"2.2.4")
write_keras2(os.path.join(bad, "wrong_shape.h5"), seq_config, {
    "conv2d_1": [("conv2d_1/kernel:0", A["k1"]), ("conv2d_1/bias:0", A["b1"])],
    "dense_1": [("dense_1/kernel:0", A["k2"][:600]), ("dense_1/bias:0", A["b2"])],
}, b"2.2.4")
wrong_input = json.loads(json.dumps(seq_config))
wrong_input["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 32, 32, 1]
write_keras2(os.path.join(bad, "wrong_input.h5"), wrong_input, {}, b"2.2.4")
write_keras3(os.path.join(bad, "no_config.keras"), k3_config, members=("metadata.json", "model.weights.h5"))
write_keras3(os.path.join(bad, "no_weights.keras"), k3_config, members=("metadata.json", "config.json"))
write_keras3(os.path.join(bad, "bomb.keras"), k3_config, members=("metadata.json", "config.json"), bomb=True)
open(os.path.join(bad, "not_zip.keras"), "w").write("not a zip\n")
# Hostile configs: nested 5,000 deep (json.dumps itself would recurse too
# deep, so the text is spelled out), and a Dense of 100,000,000 units beside
# weights of the real shapes.
deep = '{"class_name": "Sequential", "config": {"name": "s", "layers": [' + "[" * 5000 + "]" * 5000 + "]}}"
write_keras3(os.path.join(bad, "deep.keras"), None, raw_config=deep)
with h5py.File(os.path.join(bad, "deep.h5"), "w") as f:
    f.attrs["model_config"] = deep.encode("utf8")
huge = json.loads(json.dumps(seq_config))
huge["config"]["layers"][-1]["config"]["units"] = 100_000_000
write_keras2(os.path.join(bad, "huge_units.h5"), huge, {
    "conv2d_1": [("conv2d_1/kernel:0", A["k1"]), ("conv2d_1/bias:0", A["b1"])],
    "dense_1": [("dense_1/kernel:0", A["k2"]), ("dense_1/bias:0", A["b2"])],
}, b"2.2.4")
huge3 = json.loads(json.dumps(k3_config))
huge3["config"]["layers"][-1]["config"]["units"] = 100_000_000
write_keras3(os.path.join(bad, "huge_units.keras"), huge3)
