"""{{name}}: a Python app, packaged and run by wharf.

    wharf build -t {{name}} .
    wharf run {{name}}
    wharf run -e APP_ENV=staging {{name}}
"""

import os
import sys


def main():
    print("Hello from {{name}} in a wharf sandbox!")
    print("Python", sys.version.split()[0])
    # The image sets APP_ENV (wharf.toml's [env]); `wharf run -e` overrides it.
    print("APP_ENV:", os.environ.get("APP_ENV", "not set"))


if __name__ == "__main__":
    main()
