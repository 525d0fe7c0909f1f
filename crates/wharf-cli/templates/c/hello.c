/*
 * {{name}}: a C program compiled for WASI, packaged and run by wharf.
 *
 *   make                        compile hello.c into hello.wasm
 *   wharf build -t {{name}} .
 *   wharf run {{name}} some arguments
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    /* A WASI program starts in `/`; wharf names the image's working
     * directory in PWD, as a shell does. Start there, as a container would. */
    const char *pwd = getenv("PWD");
    if (pwd && chdir(pwd) != 0) perror(pwd);

    printf("Hello from {{name}} in a wharf sandbox!\n");
    /* The image sets APP_ENV (wharf.toml's [env]); `wharf run -e` overrides it. */
    const char *app_env = getenv("APP_ENV");
    printf("APP_ENV: %s\n", app_env ? app_env : "not set");
    for (int i = 1; i < argc; i++) printf("argument %d: %s\n", i, argv[i]);
    return 0;
}
