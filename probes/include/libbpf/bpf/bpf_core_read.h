/* <bpf/bpf_core_read.h> for systems without libbpf-dev, written for trace-run.
 *
 * CO-RE reads: clang's __builtin_preserve_access_index records each field access as a
 * relocation (.BTF.ext), which the loader resolves against the target's BTF, and the
 * read itself goes through bpf_probe_read_kernel (or _user).  BPF_CORE_READ(s, a, b, c)
 * follows up to 6 members, pointers between them read one at a time. */
#ifndef __TRACE_RUN_LIBBPF_BPF_CORE_READ_H
#define __TRACE_RUN_LIBBPF_BPF_CORE_READ_H

#include "../../bpf_helpers.h"

/* The kinds of clang's CO-RE builtins (the values are libbpf's and the kernel's). */
enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,
	BPF_FIELD_BYTE_SIZE = 1,
	BPF_FIELD_EXISTS = 2,
	BPF_FIELD_SIGNED = 3,
	BPF_FIELD_LSHIFT_U64 = 4,
	BPF_FIELD_RSHIFT_U64 = 5,
};
enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,
	BPF_TYPE_ID_TARGET = 1,
};
enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,
	BPF_TYPE_SIZE = 1,
	BPF_TYPE_MATCHES = 2,
};
enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,
	BPF_ENUMVAL_VALUE = 1,
};

#define bpf_core_field_exists(field) __builtin_preserve_field_info(field, BPF_FIELD_EXISTS)
#define bpf_core_field_size(field) __builtin_preserve_field_info(field, BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_offset(field) \
	__builtin_preserve_field_info(field, BPF_FIELD_BYTE_OFFSET)
#define bpf_core_type_id_local(type) \
	__builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) \
	__builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_TARGET)
#define bpf_core_type_exists(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_EXISTS)
#define bpf_core_type_matches(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_MATCHES)
#define bpf_core_type_size(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_SIZE)
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)

#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* Member chains.  __TR_RD(n) reads member n of the chain: W wraps the address (CO-RE or
 * not), F is the read for the hops (pointers), L the read of the last member. */
#define __tr_cnt(...) __tr_cnt_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define __tr_cnt_(a, b, c, d, e, f, n, ...) n
#define __tr_cat(a, b) __tr_cat_(a, b)
#define __tr_cat_(a, b) a##b
#define __tr_id(x) x

#define __tr_path1(s, a) (s)->a
#define __tr_path2(s, a, b) (s)->a->b
#define __tr_path3(s, a, b, c) (s)->a->b->c
#define __tr_path4(s, a, b, c, d) (s)->a->b->c->d
#define __tr_path5(s, a, b, c, d, e) (s)->a->b->c->d->e
#define __tr_path6(s, a, b, c, d, e, f) (s)->a->b->c->d->e->f
#define __tr_path(s, ...) __tr_cat(__tr_path, __tr_cnt(__VA_ARGS__))(s, __VA_ARGS__)

#define __tr_hop0(W, F, s, a) F((void *)&__t, sizeof(__t), (const void *)W(&(s)->a))
#define __tr_hop(W, F, T, m) F((void *)&__t, sizeof(__t), (const void *)W(&((T)__t)->m))
#define __tr_end(W, L, d, T, m) L((void *)(d), sizeof(*(d)), (const void *)W(&((T)__t)->m))

#define __tr_into1(W, F, L, d, s, a) L((void *)(d), sizeof(*(d)), (const void *)W(&(s)->a))
#define __tr_into2(W, F, L, d, s, a, b) ({ const void *__t;			\
	__tr_hop0(W, F, s, a); __tr_end(W, L, d, typeof((s)->a), b); })
#define __tr_into3(W, F, L, d, s, a, b, c) ({ const void *__t;			\
	__tr_hop0(W, F, s, a); __tr_hop(W, F, typeof((s)->a), b);		\
	__tr_end(W, L, d, typeof((s)->a->b), c); })
#define __tr_into4(W, F, L, d, s, a, b, c, e) ({ const void *__t;		\
	__tr_hop0(W, F, s, a); __tr_hop(W, F, typeof((s)->a), b);		\
	__tr_hop(W, F, typeof((s)->a->b), c);					\
	__tr_end(W, L, d, typeof((s)->a->b->c), e); })
#define __tr_into5(W, F, L, d, s, a, b, c, e, f) ({ const void *__t;		\
	__tr_hop0(W, F, s, a); __tr_hop(W, F, typeof((s)->a), b);		\
	__tr_hop(W, F, typeof((s)->a->b), c);					\
	__tr_hop(W, F, typeof((s)->a->b->c), e);				\
	__tr_end(W, L, d, typeof((s)->a->b->c->e), f); })
#define __tr_into6(W, F, L, d, s, a, b, c, e, f, g) ({ const void *__t;		\
	__tr_hop0(W, F, s, a); __tr_hop(W, F, typeof((s)->a), b);		\
	__tr_hop(W, F, typeof((s)->a->b), c);					\
	__tr_hop(W, F, typeof((s)->a->b->c), e);				\
	__tr_hop(W, F, typeof((s)->a->b->c->e), f);				\
	__tr_end(W, L, d, typeof((s)->a->b->c->e->f), g); })
#define __tr_into(W, F, L, d, s, ...) \
	__tr_cat(__tr_into, __tr_cnt(__VA_ARGS__))(W, F, L, d, s, __VA_ARGS__)

#define __tr_core(x) __builtin_preserve_access_index(x)

#define BPF_CORE_READ_INTO(dst, src, ...) __tr_into(__tr_core, bpf_probe_read_kernel, \
	bpf_probe_read_kernel, dst, src, __VA_ARGS__)
#define BPF_CORE_READ_USER_INTO(dst, src, ...) __tr_into(__tr_core, bpf_probe_read_user, \
	bpf_probe_read_user, dst, src, __VA_ARGS__)
#define BPF_CORE_READ_STR_INTO(dst, src, ...) __tr_into(__tr_core, bpf_probe_read_kernel, \
	bpf_probe_read_kernel_str, dst, src, __VA_ARGS__)
#define BPF_CORE_READ_USER_STR_INTO(dst, src, ...) __tr_into(__tr_core, \
	bpf_probe_read_user, bpf_probe_read_user_str, dst, src, __VA_ARGS__)
#define BPF_PROBE_READ_INTO(dst, src, ...) __tr_into(__tr_id, bpf_probe_read_kernel, \
	bpf_probe_read_kernel, dst, src, __VA_ARGS__)
#define BPF_PROBE_READ_USER_INTO(dst, src, ...) __tr_into(__tr_id, bpf_probe_read_user, \
	bpf_probe_read_user, dst, src, __VA_ARGS__)

#define BPF_CORE_READ(src, ...) ({ typeof(__tr_path(src, __VA_ARGS__)) __r;	\
	BPF_CORE_READ_INTO(&__r, src, __VA_ARGS__); __r; })
#define BPF_CORE_READ_USER(src, ...) ({ typeof(__tr_path(src, __VA_ARGS__)) __r;	\
	BPF_CORE_READ_USER_INTO(&__r, src, __VA_ARGS__); __r; })
#define BPF_PROBE_READ(src, ...) ({ typeof(__tr_path(src, __VA_ARGS__)) __r;	\
	BPF_PROBE_READ_INTO(&__r, src, __VA_ARGS__); __r; })
#define BPF_PROBE_READ_USER(src, ...) ({ typeof(__tr_path(src, __VA_ARGS__)) __r;	\
	BPF_PROBE_READ_USER_INTO(&__r, src, __VA_ARGS__); __r; })

#endif
