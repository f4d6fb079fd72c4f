/* Internal to the kernels: the attention entries of the kernel tables (attention.c); callers use
 * sa__kernels.attention and sa__attn_scratch_size from kernels.h. */
#ifndef SEGAGENT_KERNELS_ATTENTION_H
#define SEGAGENT_KERNELS_ATTENTION_H

#include "kernels/kernels.h"

/* plain loops, query by query: FP32, and with BF16 operands */
void sa__attention_ref(const sa__attn_head *h, float *scratch);
void sa__attention_bf16_ref(const sa__attn_head *h, float *scratch);
/* the 32-query panels in portable C (CPUs without AVX-512), FP32 */
void sa__attention_plain(const sa__attn_head *h, float *scratch);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
void sa__attention_avx512(const sa__attn_head *h, float *scratch);      /* needs avx512f */
void sa__attention_bf16_avx512(const sa__attn_head *h, float *scratch); /* + avx512bw, avx512bf16 */
#endif

#endif
