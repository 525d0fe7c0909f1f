# Compiles Python sources to bytecode for `wharf build`, in the image's own
# interpreter: hash-based .pyc files (PEP 552) checked against their source,
# so that they stay right if a run mounts another source over one, and carry
# no time stamps, so that the same sources give the same bytes.
#
# stdin: for each source, its path in the image, a newline, its length in
#   bytes, a newline, and its bytes.
# argv[1]: a directory to write to: the i-th source's bytecode goes to
#   <argv[1]>/<i>, and <argv[1]>/index holds a line "<i> <path of its .pyc
#   in the image>" for each source compiled; <argv[1]>/failed a line
#   "<path>: <why>" for each that is not Python this interpreter compiles.
import importlib.util
import sys
import warnings
from importlib._bootstrap_external import _code_to_hash_pyc

out = sys.argv[1]
stream = sys.stdin.buffer
# A SyntaxWarning is the module's author's to see, when they import it.
warnings.simplefilter("ignore")
with open(out + "/index", "w") as index, open(out + "/failed", "w") as failed:
    i = 0
    while True:
        path = stream.readline()
        if not path:
            break
        path = path[:-1].decode("utf-8", "surrogateescape")
        data = stream.read(int(stream.readline()))
        try:
            code = compile(data, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            failed.write(f"{path}: {type(e).__name__}: {e}\n")
        else:
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), True)
            with open(f"{out}/{i}", "wb") as f:
                f.write(pyc)
            index.write(f"{i} {importlib.util.cache_from_source(path)}\n")
        i += 1
