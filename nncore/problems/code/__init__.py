"""Code exercises: students submit Python; a sandboxed harness runs it on scripted cases.

`values` is the JSON encoding of arguments, expectations and observed results, `harness` runs a
case against a loaded submission (inside the sandbox) and compares what it observed with the
expectations (outside), `kind` is the shared base of the kinds in `functions` and `modules`.
The instance layout is documented in `nncore.problems.code_kinds`.
"""
