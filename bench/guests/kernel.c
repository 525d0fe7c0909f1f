/*
 * kernel N: the C guest work of the benchmark. A sieve of Eratosthenes up
 * to N, then the product of two S x S matrices of doubles with S^3 about
 * N, printing checksums of both so that neither can be optimised away.
 * The work grows with N; the benchmark measures N large and N small and
 * subtracts, which leaves the guest's computing alone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static long sieve(long n) {
    unsigned char *composite = calloc((size_t)n + 1, 1);
    long primes = 0;
    if (!composite) {
        perror("calloc");
        exit(1);
    }
    for (long i = 2; i <= n; i++) {
        if (composite[i]) continue;
        primes++;
        if (i > n / i) continue;
        for (long j = i * i; j <= n; j += i) composite[j] = 1;
    }
    free(composite);
    return primes;
}

static double matmul(long s) {
    double *a = malloc(sizeof(double) * s * s);
    double *b = malloc(sizeof(double) * s * s);
    double *c = calloc((size_t)(s * s), sizeof(double));
    double sum = 0;
    if (!a || !b || !c) {
        perror("malloc");
        exit(1);
    }
    for (long i = 0; i < s * s; i++) {
        a[i] = (double)(i % 7) - 3.0;
        b[i] = (double)(i % 5) * 0.5;
    }
    for (long i = 0; i < s; i++)
        for (long k = 0; k < s; k++) {
            double aik = a[i * s + k];
            for (long j = 0; j < s; j++) c[i * s + j] += aik * b[k * s + j];
        }
    for (long i = 0; i < s * s; i++) sum += c[i];
    free(a);
    free(b);
    free(c);
    return sum;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    long s = (long)cbrt((double)n);
    if (n < 2) n = 2;
    if (s < 1) s = 1;
    printf("primes up to %ld: %ld; sum of a %ldx%ld product: %.1f\n", n, sieve(n), s, s, matmul(s));
    return 0;
}
