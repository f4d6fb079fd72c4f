/* Peak multiply-add throughput of this CPU, to read the GFLOPS of the other benchmarks against: 12
 * independent chains of AVX-512 FP32 FMAs (vfmadd231ps zmm: 16 multiply-adds = 32 FLOP) and of
 * AVX-512 BF16 dot products (vdpbf16ps zmm: 32 BF16 multiply-adds into 16 FP32 sums = 64 FLOP), on
 * 1 thread and on N threads (one chain set per thread). Prints GFLOPS from wall time and from CPU
 * time (the host is shared: CPU time shows what a core does when it runs).
 *
 *   bench_peak [--threads N] [--seconds S]     default 2 threads, 0.5 s per measurement */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define CHAINS 12
#define INNER 1000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    int kind; /* 0 FMA, 1 BF16 dot */
    long iters;
    double cpu, sink;
} job;

#if HAVE_X86
__attribute__((target("avx512f"))) static double run_fma(long iters) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm512_fmadd_ps(a, acc[i], b);
    float s = 0.0f;
    for (int i = 0; i < CHAINS; i++)
        s += _mm512_reduce_add_ps(acc[i]);
    return s;
}

__attribute__((target("avx512f,avx512bf16"))) static double run_bf16(long iters) {
    __m512 acc[CHAINS];
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3c00);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    float s = 0.0f;
    for (int i = 0; i < CHAINS; i++)
        s += _mm512_reduce_add_ps(acc[i]);
    return s;
}
#endif

static void *worker(void *arg) {
    job *j = arg;
    double c0 = thread_cpu_s();
#if HAVE_X86
    j->sink = j->kind ? run_bf16(j->iters) : run_fma(j->iters);
#endif
    j->cpu = thread_cpu_s() - c0;
    return NULL;
}

/* GFLOPS of kind on n threads for iters iterations each; *cpu_gflops per CPU-second, summed over
 * threads */
static double measure(int kind, int n, long iters, double *cpu_gflops) {
    pthread_t th[64];
    job jobs[64];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){.kind = kind, .iters = iters};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    double cpu = 0.0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        cpu += jobs[i].cpu;
    }
    double wall = now_s() - t0;
    const double flop = (double)n * iters * CHAINS * 16 * (kind ? 4 : 2);
    *cpu_gflops = flop / (cpu / n) / 1e9; /* what n cores give when they run */
    return flop / wall / 1e9;
}

int main(int argc, char **argv) {
    int threads = 2;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
#if HAVE_X86
    const char *names[2] = {"FP32 FMA (vfmadd231ps zmm)", "BF16 dot (vdpbf16ps zmm)"};
    for (int kind = 0; kind < 2; kind++) {
        if (!__builtin_cpu_supports("avx512f") || (kind && !__builtin_cpu_supports("avx512bf16"))) {
            printf("%-28s not supported by this CPU\n", names[kind]);
            continue;
        }
        double cg;
        long iters = 1000;
        double t0 = now_s();
        measure(kind, 1, iters, &cg); /* calibrate to about `seconds` */
        double t = now_s() - t0;
        iters = (long)(iters * seconds / (t > 1e-6 ? t : 1e-6));
        if (iters < INNER) iters = INNER;
        for (int n = 1; n <= threads;
             n = n == threads ? threads + 1 : (n * 2 > threads ? threads : n * 2)) {
            double g = measure(kind, n, iters, &cg);
            printf("%-28s %2d thread%s: %7.1f GFLOPS wall, %7.1f GFLOPS per CPU time (%.1f per "
                   "core)\n",
                   names[kind], n, n == 1 ? " " : "s", g, cg, cg / n);
        }
    }
#else
    printf("no x86-64 AVX-512 on this build\n");
#endif
    return 0;
}
