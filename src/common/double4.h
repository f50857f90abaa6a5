/*-------------------------------------------------------------------------
 *
 * double4.h
 *	  Four doubles as one value of GCC's vector extension, and the clones
 *	  that let a hot function use AVX2 where the CPU has it.
 *
 * Element-wise arithmetic on a Double4 rounds as the scalar code would, in
 * one 4-wide register under AVX2 and two 2-wide SSE2 ones elsewhere; FMA is
 * never enabled (a fused multiply-add rounds once where the plain code
 * rounds twice), so every clone gives the same bits.  The vectors are
 * aligned like a double: they are read from and written to plain arrays.
 * Pass them through macros or pointers, not by value: a vector argument
 * would change the calling convention between the SSE2 and AVX2 clones.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_DOUBLE4_H
#define RETENTION_DOUBLE4_H

typedef double Double4 __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double))));

/* clang builds the bitcode for JIT inlining, where the clones do not apply */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define DOUBLE4_TARGET_CLONES __attribute__((target_clones("default", "avx2")))
#else
#define DOUBLE4_TARGET_CLONES
#endif

#endif							/* RETENTION_DOUBLE4_H */
