'''Reference sources and starter code of the function exercises (MIT 6.390 notation).

W^l is n_{l-1} x n_l, W_0^l is n_l x 1, Z^l = (W^l)^T A^{l-1} + W_0^l, A^l = f(Z^l), A^0 = X with
one column per example. The reference sources are what the tests execute against the generated
cases; the bugs of `functions` are edits of these exact strings.
'''

from __future__ import annotations

IMPORTS = "import numpy as np\n"

ACTIVATE = '''

def activate(Z, activation):
    """f(Z) entrywise: 'relu', 'tanh', 'sigmoid' or 'identity'."""
    if activation == "relu":
        return np.maximum(Z, 0.0)
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if activation == "identity":
        return Z
    raise ValueError(f"unknown activation {activation!r}")
'''

DERIVATIVE = '''

def derivative(Z, activation):
    """f'(Z) entrywise (ReLU'(z) is 1 for z > 0 and 0 for z < 0)."""
    if activation == "relu":
        return (Z > 0).astype(float)
    if activation == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-Z))
        return s * (1.0 - s)
    if activation == "identity":
        return np.ones_like(Z)
    raise ValueError(f"unknown activation {activation!r}")
'''

FORWARD = '''

def forward(Ws, W0s, X, activation):
    """A^L for the columns of X (n_0 x B); every layer uses `activation`."""
    A = X
    for W, W0 in zip(Ws, W0s):
        Z = W.T @ A + W0
        A = activate(Z, activation)
    return A
'''

DELTAS = '''

def deltas(Ws, W0s, X, Y, activation):
    """[Delta^1, ..., Delta^L], Delta^l = dL/dZ^l (n_l x B) for L = sum_k (g_k - y_k)^2."""
    Zs, As = [], [X]
    for W, W0 in zip(Ws, W0s):
        Zs.append(W.T @ As[-1] + W0)
        As.append(activate(Zs[-1], activation))
    D = [None] * len(Ws)
    D[-1] = 2.0 * (As[-1] - Y) * derivative(Zs[-1], activation)
    for l in range(len(Ws) - 2, -1, -1):
        D[l] = derivative(Zs[l], activation) * (Ws[l + 1] @ D[l + 1])
    return D
'''

SGD_STEP = '''

def sgd_step(Ws, W0s, x, y, activation, lr):
    """(new Ws, new W0s) after one SGD step on the example (x, y); Ws and W0s are not changed."""
    D = deltas(Ws, W0s, x, y, activation)
    As = [x]
    for W, W0 in zip(Ws, W0s):
        As.append(activate(W.T @ As[-1] + W0, activation))
    new_Ws = [W - lr * (A @ d.T) for W, A, d in zip(Ws, As[:-1], D)]
    new_W0s = [W0 - lr * d for W0, d in zip(W0s, D)]
    return new_Ws, new_W0s
'''

SOFTMAX = '''

def softmax(Z):
    """Softmax of each column of the K x B logits Z, shifted by the column maximum (stable)."""
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return E / np.sum(E, axis=0, keepdims=True)
'''

SOFTMAX_XENT = '''

def softmax_cross_entropy(Z, Y):
    """(L, dLdZ): L (1 x B) = -sum_k y_k log softmax(z)_k per column, dLdZ = softmax(Z) - Y."""
    shifted = Z - np.max(Z, axis=0, keepdims=True)
    log_norm = np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))
    log_probs = shifted - log_norm
    L = -np.sum(Y * log_probs, axis=0, keepdims=True)
    return L, np.exp(log_probs) - Y
'''

FGSM = '''

def fgsm(Ws, W0s, x, y, activation, eps):
    """(dL/dx, x + eps sign(dL/dx)): hidden layers use `activation`, the output layer softmax,
    L = -sum_k y_k log g_k."""
    Zs, As = [], [x]
    for l, (W, W0) in enumerate(zip(Ws, W0s)):
        Zs.append(W.T @ As[-1] + W0)
        As.append(softmax(Zs[-1]) if l == len(Ws) - 1 else activate(Zs[-1], activation))
    D = As[-1] - y  # Delta^L = g - y for softmax with cross-entropy
    for l in range(len(Ws) - 1, 0, -1):
        D = derivative(Zs[l - 1], activation) * (Ws[l] @ D)
    dLdx = Ws[0] @ D
    return dLdx, x + eps * np.sign(dLdx)
'''

GRAPH = '''

def f_and_grad(x):
    """f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)) and df/dx, entrywise, by the graph
    a = x^2, b = exp(a), c = a + b, d = sqrt(c), e = cos(c), f = d + e."""
    a = x ** 2
    b = np.exp(a)
    c = a + b
    d = np.sqrt(c)
    e = np.cos(c)
    f = d + e
    df_dd = 1.0
    df_de = 1.0
    df_dc = df_dd * 0.5 / np.sqrt(c) + df_de * (-np.sin(c))
    df_db = df_dc * 1.0
    df_da = df_dc * 1.0 + df_db * b
    df_dx = df_da * 2.0 * x
    return f, df_dx
'''

REFERENCE = {
    "forward": IMPORTS + ACTIVATE + FORWARD,
    "deltas": IMPORTS + ACTIVATE + DERIVATIVE + DELTAS,
    "sgd_step": IMPORTS + ACTIVATE + DERIVATIVE + DELTAS + SGD_STEP,
    "softmax": IMPORTS + SOFTMAX,
    "softmax_cross_entropy": IMPORTS + SOFTMAX_XENT,
    "fgsm": IMPORTS + ACTIVATE + DERIVATIVE + SOFTMAX + FGSM,
    "f_and_grad": IMPORTS + GRAPH,
}

SIGNATURE = {
    "forward": "def forward(Ws: list[np.ndarray], W0s: list[np.ndarray], X: np.ndarray, activation: str) -> np.ndarray",
    "deltas": "def deltas(Ws: list[np.ndarray], W0s: list[np.ndarray], X: np.ndarray, Y: np.ndarray, activation: str) -> list[np.ndarray]",
    "sgd_step": "def sgd_step(Ws: list[np.ndarray], W0s: list[np.ndarray], x: np.ndarray, y: np.ndarray, activation: str, lr: float) -> tuple[list[np.ndarray], list[np.ndarray]]",
    "softmax": "def softmax(Z: np.ndarray) -> np.ndarray",
    "softmax_cross_entropy": "def softmax_cross_entropy(Z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]",
    "fgsm": "def fgsm(Ws: list[np.ndarray], W0s: list[np.ndarray], x: np.ndarray, y: np.ndarray, activation: str, eps: float) -> tuple[np.ndarray, np.ndarray]",
    "f_and_grad": "def f_and_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]",
}

_DOC = {
    "forward": "A^L (n_L x B) of the network for the columns of X (n_0 x B).\n    W^l = Ws[l-1] is n_{l-1} x n_l, W_0^l = W0s[l-1] is n_l x 1,\n    Z^l = (W^l)^T A^{l-1} + W_0^l, A^l = f(Z^l) with f = activation in EVERY layer\n    ('relu', 'tanh', 'sigmoid' or 'identity').",
    "deltas": "[Delta^1, ..., Delta^L] with Delta^l = dL/dZ^l (n_l x B, one column per example)\n    for the loss L = sum_k (g_k - y_k)^2 (no 1/2), every layer using `activation`\n    ('relu', 'tanh', 'sigmoid' or 'identity').",
    "sgd_step": "(new_Ws, new_W0s) after one SGD step w <- w - lr dL/dw on one example\n    x (n_0 x 1), y (n_L x 1), loss L = sum_k (g_k - y_k)^2, every layer using `activation`\n    ('relu', 'tanh', 'sigmoid' or 'identity').\n    Return new lists of new arrays; do not modify Ws, W0s or their arrays.",
    "softmax": "Softmax of each column of the K x B logits Z (K x B result).\n    Must not overflow: Z = [[1000], [0]] gives [[1], [0]].",
    "softmax_cross_entropy": "(L, dLdZ) for the K x B logits Z and one-hot targets Y (K x B):\n    L (1 x B) holds -sum_k y_k log softmax(z)_k of each column, dLdZ = softmax(Z) - Y.\n    Must stay finite for logits such as [1000, 0].",
    "fgsm": "(dLdx, x_adv) for one example x (n_0 x 1) and one-hot y (K x 1): hidden layers\n    use `activation`, the output layer is softmax, L = -sum_k y_k log g_k;\n    dLdx = dL/dx (n_0 x 1) and x_adv = x + eps * sign(dLdx).",
    "f_and_grad": "(f, dfdx) for every entry of the 1-D array x:\n    f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)) and its derivative df/dx,\n    both 1-D arrays shaped like x. Use the graph's backward pass.",
}


def starter(name: str) -> str:
    """The code a student starts from: the import and a documented stub."""
    signature = SIGNATURE[name].replace(": list[np.ndarray]", "").replace(": np.ndarray", "")
    signature = signature.replace(": str", "").replace(": float", "").split(" ->")[0]
    return f'{IMPORTS}\n\n{signature}:\n    """{_DOC[name]}\n    """\n    raise NotImplementedError\n'
