'''Reference sources and starter code of the module exercises (the MIT 6.390 homework interface).

Data are columns: A is features x batch. Linear(m, n) holds W (m x n) and W0 (n x 1); forward
stores its input, backward stores dLdW = A dLdZ^T and dLdW0 = dLdZ summed over the batch (n x 1)
and returns dLdA = W dLdZ; sgd_step(lrate) updates both. Activations store what backward needs.
SoftMax.backward receives dL/dZ itself (NLL.backward already returns Ypred - Y, the combined
softmax + NLL gradient) and passes it on. Sequential.sgd draws one example index per iteration
with np.random.randint(N), which the harness scripts (see harness.injected_randint).
'''

from __future__ import annotations

IMPORTS = "import numpy as np\n"

MODULE = '''

class Module:
    def sgd_step(self, lrate):
        """Modules without weights have nothing to update."""
'''

LINEAR = '''

class Linear(Module):
    def __init__(self, m, n):
        self.m, self.n = m, n
        self.W0 = np.zeros((n, 1))
        self.W = np.random.normal(0.0, m ** -0.5, (m, n))

    def forward(self, A):
        self.A = A
        return self.W.T @ A + self.W0

    def backward(self, dLdZ):
        self.dLdW = self.A @ dLdZ.T
        self.dLdW0 = np.sum(dLdZ, axis=1, keepdims=True)
        return self.W @ dLdZ

    def sgd_step(self, lrate):
        self.W = self.W - lrate * self.dLdW
        self.W0 = self.W0 - lrate * self.dLdW0
'''

TANH = '''

class Tanh(Module):
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (1.0 - self.A ** 2)
'''

RELU = '''

class ReLU(Module):
    def forward(self, Z):
        self.A = np.maximum(0.0, Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (self.A > 0)
'''

SOFTMAX = '''

class SoftMax(Module):
    def forward(self, Z):
        E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
        return E / np.sum(E, axis=0, keepdims=True)

    def backward(self, dLdZ):
        return dLdZ

    def class_fun(self, Ypred):
        return np.argmax(Ypred, axis=0)
'''

NLL = '''

class NLL(Module):
    def forward(self, Ypred, Y):
        self.Ypred = Ypred
        self.Y = Y
        return float(-np.sum(Y * np.log(Ypred)))

    def backward(self):
        return self.Ypred - self.Y
'''

SEQUENTIAL = '''

class Sequential:
    def __init__(self, modules, loss):
        self.modules = modules
        self.loss = loss

    def sgd(self, X, Y, iters=100, lrate=0.005):
        D, N = X.shape
        for it in range(iters):
            i = np.random.randint(N)
            Xt = X[:, i:i + 1]
            Yt = Y[:, i:i + 1]
            Ypred = self.forward(Xt)
            self.loss.forward(Ypred, Yt)
            self.backward(self.loss.backward())
            self.sgd_step(lrate)

    def forward(self, Xt):
        for m in self.modules:
            Xt = m.forward(Xt)
        return Xt

    def backward(self, delta):
        for m in self.modules[::-1]:
            delta = m.backward(delta)

    def sgd_step(self, lrate):
        for m in self.modules:
            m.sgd_step(lrate)
'''

REFERENCE = {
    "linear": IMPORTS + MODULE + LINEAR,
    "activations": IMPORTS + MODULE + TANH + RELU,
    "softmax_nll": IMPORTS + MODULE + SOFTMAX + NLL,
    "sequential": IMPORTS + MODULE + LINEAR + TANH + RELU + SOFTMAX + NLL + SEQUENTIAL,
}

ENTRY = {
    "linear": ("Linear",),
    "activations": ("Tanh", "ReLU"),
    "softmax_nll": ("SoftMax", "NLL"),
    "sequential": ("Linear", "Tanh", "ReLU", "SoftMax", "NLL", "Sequential"),
}

_INTERFACE = {
    "Linear": (
        "class Linear(Module):\n"
        "    def __init__(self, m, n): ...      # W: m x n, W0: n x 1\n"
        "    def forward(self, A): ...          # A: m x b -> Z = W^T A + W0 (n x b)\n"
        "    def backward(self, dLdZ): ...      # stores dLdW (m x n), dLdW0 (n x 1); returns dLdA (m x b)\n"
        "    def sgd_step(self, lrate): ...     # W <- W - lrate dLdW, W0 <- W0 - lrate dLdW0\n"
    ),
    "Tanh": (
        "class Tanh(Module):\n"
        "    def forward(self, Z): ...          # A = tanh(Z)\n"
        "    def backward(self, dLdA): ...      # returns dLdZ\n"
    ),
    "ReLU": (
        "class ReLU(Module):\n"
        "    def forward(self, Z): ...          # A = max(0, Z)\n"
        "    def backward(self, dLdA): ...      # returns dLdZ\n"
    ),
    "SoftMax": (
        "class SoftMax(Module):\n"
        "    def forward(self, Z): ...          # column-wise softmax (K x b), stable for large Z\n"
        "    def backward(self, dLdZ): ...      # dLdZ is already dL/dZ: return it\n"
        "    def class_fun(self, Ypred): ...    # argmax over axis 0 of Ypred: b class indices\n"
    ),
    "NLL": (
        "class NLL(Module):\n"
        "    def forward(self, Ypred, Y): ...   # scalar loss -sum(Y log Ypred) over classes and batch\n"
        "    def backward(self): ...            # returns Ypred - Y (dL/dZ of softmax + NLL)\n"
    ),
    "Sequential": (
        "class Sequential:\n"
        "    def __init__(self, modules, loss): ...\n"
        "    def sgd(self, X, Y, iters=100, lrate=0.005): ...  # i = np.random.randint(N) per iteration\n"
        "    def forward(self, Xt): ...\n"
        "    def backward(self, delta): ...     # through the modules in reverse order\n"
        "    def sgd_step(self, lrate): ...\n"
    ),
}


def interface(part: str) -> str:
    """The signature block of a module exercise."""
    return "\n".join(_INTERFACE[name] for name in ENTRY[part])


_STUB = {
    "Linear": '''

class Linear(Module):
    def __init__(self, m, n):
        self.m, self.n = m, n
        self.W0 = np.zeros((n, 1))
        self.W = np.random.normal(0.0, m ** -0.5, (m, n))

    def forward(self, A):
        raise NotImplementedError  # Z = W^T A + W0 (n x b); remember A for backward

    def backward(self, dLdZ):
        raise NotImplementedError  # set self.dLdW (m x n), self.dLdW0 (n x 1); return dLdA

    def sgd_step(self, lrate):
        raise NotImplementedError
''',
    "Tanh": '''

class Tanh(Module):
    def forward(self, Z):
        raise NotImplementedError

    def backward(self, dLdA):
        raise NotImplementedError
''',
    "ReLU": '''

class ReLU(Module):
    def forward(self, Z):
        raise NotImplementedError

    def backward(self, dLdA):
        raise NotImplementedError
''',
    "SoftMax": '''

class SoftMax(Module):
    def forward(self, Z):
        raise NotImplementedError

    def backward(self, dLdZ):
        raise NotImplementedError

    def class_fun(self, Ypred):
        raise NotImplementedError
''',
    "NLL": '''

class NLL(Module):
    def forward(self, Ypred, Y):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError
''',
    "Sequential": '''

class Sequential:
    def __init__(self, modules, loss):
        self.modules = modules
        self.loss = loss

    def sgd(self, X, Y, iters=100, lrate=0.005):
        raise NotImplementedError  # one random example per iteration: i = np.random.randint(N)

    def forward(self, Xt):
        raise NotImplementedError

    def backward(self, delta):
        raise NotImplementedError

    def sgd_step(self, lrate):
        raise NotImplementedError
''',
}


def starter(part: str) -> str:
    """The code a student starts from: the Module base class and stubs of every class asked."""
    return IMPORTS + MODULE + "".join(_STUB[name] for name in ENTRY[part])
