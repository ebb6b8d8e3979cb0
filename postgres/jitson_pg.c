/*-------------------------------------------------------------------------
 *
 * jitson_pg.c
 *	  PostgreSQL extension: exact (masked) Hamming and Tanimoto search over
 *	  bit, bit varying and bytea columns with jitson's JIT kernels.
 *
 * Only the public C API of libjitson (jitson/jitson.h) is used.  That API
 * never throws: every failure comes back as a return code and a one-line
 * message (with the JSON Pointer of a bad config field), which we turn into
 * ereport(ERROR).  libjitson allocates with malloc, so every accumulator we
 * create is owned by a memory context reset callback: an error (or a
 * cancellation) anywhere releases it when PostgreSQL cleans up.
 *
 * Inside a backend jitson runs on the caller's thread (engine option
 * {"threads": 1}) and never loads LLVM unless a config asks for
 * "backend": "llvm" (libjitson opens its LLVM plugin lazily).
 *
 * Bit order: a PostgreSQL bit string keeps bit i of the string in byte i/8,
 * most significant bit first; jitson numbers the bits of a byte from the
 * least significant one.  Plain distances do not care; a focus mask's bit b
 * is string position 8*(b/8) + 7 - b%8 (ranges on byte boundaries are the
 * same in both numberings).  Values are zero-padded to a multiple of 64 bits,
 * which adds nothing to any distance, intersection or union.
 *
 * Metrics: a config's "metric" is "hamming" (the default) or "tanimoto".
 * Each SQL function computes one of them (jitson_distance, jitson_topk,
 * jitson_topk_agg: Hamming; jitson_tanimoto, jitson_topk_tanimoto,
 * jitson_topk_tanimoto_agg: Tanimoto) and refuses a config of the other,
 * naming the function that takes it.  A Tanimoto hit travels through the
 * same scan machinery and accumulators as a Hamming one: its distance is
 * the similarity's rank (ascending rank = similarity descending, ties by
 * row id) and its reserved field the union; jitson_tanimoto_of decodes both
 * exactly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "storage/bufmgr.h"
#include "storage/buf_internals.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "jitson/jitson.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Rows per kernel call: big enough to amortise the call, small enough to
 * keep the chunk in L2 for 2 KB records and to answer cancellation fast. */
#ifndef JITSON_CHUNK_ROWS
#define JITSON_CHUNK_ROWS 1024
#endif
/* Compiled kernels kept per backend, keyed by the canonical config text. */
#define JITSON_CHUNK_BYTES (256 * 1024)
#define JITSON_KERNEL_CACHE 16
#define JITSON_MAX_BITS 65536
#define JITSON_ERRLEN 512

typedef enum ValueKind
{
	KIND_BITS,					/* bit, bit varying: VarBit */
	KIND_BYTES					/* bytea */
} ValueKind;

/* The query, padded to whole 64-bit words (jitson's record size). */
typedef struct QueryInfo
{
	ValueKind	kind;
	int64		nbits;			/* bits (bit types) or 8 * bytes (bytea) */
	int32		nbytes;			/* bytes of the value itself */
	int32		rec_bytes;		/* nbytes rounded up to a multiple of 8 */
	uint8	   *padded;
} QueryInfo;

typedef struct CachedKernel
{
	char	   *text;			/* canonical config text (TopMemoryContext) */
	size_t		len;
	jitson_kernel *kernel;
	int			metric;			/* JITSON_METRIC_HAMMING or JITSON_METRIC_TANIMOTO */
	int64		top_k;
	uint64		last_use;
} CachedKernel;

/*
 * What a function computes: prepare_config checks a config's metric against
 * it.  METRIC_ANY (jitson_compile, jitson_explain) takes either.
 */
#define METRIC_ANY (-1)

/* The SQL functions of each metric (index: JITSON_METRIC_*), for messages. */
typedef enum FnRole
{
	FN_DISTANCE,				/* jitson_distance / jitson_tanimoto */
	FN_TOPK,					/* jitson_topk / jitson_topk_tanimoto */
	FN_AGG						/* jitson_topk_agg / jitson_topk_tanimoto_agg */
} FnRole;

static const char *const metric_fn[2][3] = {
	{"jitson_distance", "jitson_topk", "jitson_topk_agg"},
	{"jitson_tanimoto", "jitson_topk_tanimoto", "jitson_topk_tanimoto_agg"},
};

/* The metric as a config names it, and the field bounding its searches. */
static const char *const metric_name[2] = {"hamming", "tanimoto"};
static const char *const metric_bound[2] = {"max_distance", "min_similarity"};

static jitson_engine *engine = NULL;
static CachedKernel kernel_cache[JITSON_KERNEL_CACHE];
static uint64 kernel_clock = 0;

PG_FUNCTION_INFO_V1(jitson_distance_bits);
PG_FUNCTION_INFO_V1(jitson_distance_bytes);
PG_FUNCTION_INFO_V1(jitson_hamming_bits);
PG_FUNCTION_INFO_V1(jitson_hamming_bytes);
PG_FUNCTION_INFO_V1(jitson_topk_bits);
PG_FUNCTION_INFO_V1(jitson_topk_bytes);
PG_FUNCTION_INFO_V1(jitson_compile_sql);
PG_FUNCTION_INFO_V1(jitson_explain_sql);
PG_FUNCTION_INFO_V1(jitson_version_sql);
PG_FUNCTION_INFO_V1(jitson_topk_agg_trans_bits);
PG_FUNCTION_INFO_V1(jitson_topk_agg_trans_bytes);
PG_FUNCTION_INFO_V1(jitson_topk_agg_combine);
PG_FUNCTION_INFO_V1(jitson_topk_agg_serialize);
PG_FUNCTION_INFO_V1(jitson_topk_agg_deserialize);
PG_FUNCTION_INFO_V1(jitson_topk_agg_final);
PG_FUNCTION_INFO_V1(jitson_topk_agg_final_pairs);
PG_FUNCTION_INFO_V1(jitson_tanimoto_bits);
PG_FUNCTION_INFO_V1(jitson_tanimoto_bytes);
PG_FUNCTION_INFO_V1(jitson_jaccard_distance_bits);
PG_FUNCTION_INFO_V1(jitson_jaccard_distance_bytes);
PG_FUNCTION_INFO_V1(jitson_topk_tanimoto_bits);
PG_FUNCTION_INFO_V1(jitson_topk_tanimoto_bytes);
PG_FUNCTION_INFO_V1(jitson_topk_tanimoto_agg_trans_bits);
PG_FUNCTION_INFO_V1(jitson_topk_tanimoto_agg_trans_bytes);
PG_FUNCTION_INFO_V1(jitson_topk_tanimoto_agg_final);

/* ---------------------------------------------------------------------
 * Engine and kernel cache
 * ---------------------------------------------------------------------
 */

static jitson_engine *
get_engine(void)
{
	if (engine == NULL)
	{
		char		err[JITSON_ERRLEN];

		/* One thread: a backend is one PostgreSQL process and must not
		 * start threads behind the postmaster's back. */
		engine = jitson_engine_create("{\"threads\": 1}", err, sizeof(err));
		if (engine == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("jitson: cannot create the engine: %s", err)));
	}
	return engine;
}

static int64
jsonb_int_field(Jsonb *jb, const char *key, int64 dflt, bool *found)
{
	JsonbValue	v;

	if (found)
		*found = false;
	if (getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL)
		return dflt;
	if (found)
		*found = true;
	if (v.type != jbvNumeric)
		return dflt;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v.val.numeric)));
}

/*
 * A config's metric differs from the one the calling function computes: an
 * error naming the function that takes such a config.
 */
static pg_attribute_noreturn() void
metric_mismatch(int metric, FnRole role, int config_metric)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: /metric: the config's metric is \"%s\" but %s computes %s; give a %s config to %s",
					metric_fn[metric][role], metric_name[config_metric], metric_fn[metric][role],
					metric == JITSON_METRIC_TANIMOTO ? "Tanimoto similarity" : "Hamming distance",
					config_metric == JITSON_METRIC_TANIMOTO ? "Tanimoto" : "Hamming",
					metric_fn[config_metric][role])));
	pg_unreachable();
}

/* A hint for a config the library refused because of the other metric's bound. */
static int
bound_hint(int metric, FnRole role, const char *err)
{
	if (metric == JITSON_METRIC_TANIMOTO && strstr(err, "/max_distance") != NULL)
		return errhint("%s fills in \"metric\": \"tanimoto\", which is bounded with min_similarity; a Hamming config with max_distance goes to %s.",
					   metric_fn[JITSON_METRIC_TANIMOTO][role], metric_fn[JITSON_METRIC_HAMMING][role]);
	if (metric == JITSON_METRIC_HAMMING && strstr(err, "/min_similarity") != NULL)
		return errhint("min_similarity bounds a Tanimoto search: give the config to %s.",
					   metric_fn[JITSON_METRIC_TANIMOTO][role]);
	return 0;
}

/*
 * Compiles (or finds) the kernel of a config.  record_bits > 0 fills in
 * "record_bits" when the config leaves it out and checks it when the config
 * states it; "version": 1 is filled in as well, so {"top_k": 10} is a
 * complete config.  metric is what the calling function (role) computes:
 * a Tanimoto function fills in "metric": "tanimoto", and a config of the
 * other metric is an error; METRIC_ANY takes either.  drop_bound removes
 * the metric's bound, max_distance or min_similarity (a distance function
 * must return the distance or similarity even beyond the bound), once the
 * config as written has compiled.
 */
static CachedKernel *
prepare_config(Jsonb *config, int64 record_bits, bool drop_bound, int metric, FnRole role)
{
	Jsonb	   *merged;
	char	   *text;
	size_t		len;
	CachedKernel *slot = NULL;
	char		err[JITSON_ERRLEN];
	jitson_kernel *kernel;
	bool		has_bits;
	int64		config_bits;
	int			i;

	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jitson config: must be a JSON object such as {\"top_k\": 10}, not a %s",
						JB_ROOT_IS_SCALAR(config) ? "scalar" : "JSON array")));

	{
		char	   *defaults;
		const char *metric_default = metric == JITSON_METRIC_TANIMOTO ?
			", \"metric\": \"tanimoto\"" : "";

		if (record_bits > 0)
			defaults = psprintf("{\"version\": 1, \"record_bits\": " INT64_FORMAT "%s}",
								record_bits, metric_default);
		else
			defaults = psprintf("{\"version\": 1%s}", metric_default);
		merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
													DirectFunctionCall1(jsonb_in, CStringGetDatum(defaults)),
													JsonbPGetDatum(config)));
	}
	if (drop_bound && metric != METRIC_ANY)
	{
		JsonbValue	v;
		const char *bound = metric_bound[metric];

		/* the config as written first, so that a malformed bound is still reported */
		if (getKeyJsonValueFromContainer(&merged->root, bound, strlen(bound), &v) != NULL)
			(void) prepare_config(config, record_bits, false, metric, role);
		merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(merged),
													CStringGetTextDatum(bound)));
	}
	text = JsonbToCString(NULL, &merged->root, VARSIZE(merged));
	len = strlen(text);

	for (i = 0; i < JITSON_KERNEL_CACHE; i++)
	{
		CachedKernel *c = &kernel_cache[i];

		if (c->kernel != NULL && c->len == len && memcmp(c->text, text, len) == 0)
		{
			c->last_use = ++kernel_clock;
			if (metric != METRIC_ANY && c->metric != metric)
				metric_mismatch(metric, role, c->metric);
			return c;
		}
	}

	kernel = jitson_compile(get_engine(), text, len, err, sizeof(err));
	if (kernel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jitson config: %s", err),
				 errdetail("Config as compiled: %s", text),
				 bound_hint(metric, role, err)));

	/* The kernel accepted the config, so record_bits is an integer now. */
	config_bits = jsonb_int_field(merged, "record_bits", 0, &has_bits);
	if (record_bits > 0 && config_bits != record_bits)
	{
		jitson_kernel_release(kernel);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jitson config: /record_bits: " INT64_FORMAT " does not match the values, which take " INT64_FORMAT " bits (their length rounded up to a multiple of 64)",
						config_bits, record_bits),
				 errhint("Leave record_bits out of the config; it is taken from the query.")));
	}

	/* Evict the least recently used entry.  Accumulators hold their own
	 * reference to a kernel, so releasing ours never pulls a kernel from
	 * under a running scan. */
	for (i = 0; i < JITSON_KERNEL_CACHE; i++)
	{
		CachedKernel *c = &kernel_cache[i];

		if (c->kernel == NULL)
		{
			slot = c;
			break;
		}
		if (slot == NULL || c->last_use < slot->last_use)
			slot = c;
	}
	if (slot->kernel != NULL)
	{
		jitson_kernel_release(slot->kernel);
		slot->kernel = NULL;
		pfree(slot->text);
	}
	slot->text = MemoryContextStrdup(TopMemoryContext, text);
	slot->len = len;
	slot->kernel = kernel;
	slot->metric = jitson_kernel_metric(kernel);
	slot->top_k = jsonb_int_field(merged, "top_k", 10, NULL);
	slot->last_use = ++kernel_clock;
	/* cached all the same: the kernel is valid, only not for this caller */
	if (metric != METRIC_ANY && slot->metric != metric)
		metric_mismatch(metric, role, slot->metric);
	return slot;
}

/* ---------------------------------------------------------------------
 * Values
 * ---------------------------------------------------------------------
 */

static const char *
kind_unit(ValueKind kind)
{
	return kind == KIND_BITS ? "bits" : "bytes";
}

/* The length in the unit users know: bits of a bit string, bytes of a bytea. */
static int64
value_length(ValueKind kind, int64 nbits)
{
	return kind == KIND_BITS ? nbits : nbits / 8;
}

/*
 * Records per chunk buffer: values are copied in and the kernel reads them
 * back, so the buffer stays within JITSON_CHUNK_BYTES (L2).
 */
static int
chunk_rows(int32 rec_bytes)
{
	return Max(16, Min(JITSON_CHUNK_ROWS, JITSON_CHUNK_BYTES / rec_bytes));
}

/*
 * Points *data at the payload of a detoasted value (a short header is fine:
 * nothing is copied) and returns its length in bits.
 */
static int64
value_bits(struct varlena *v, ValueKind kind, const uint8 **data, int32 *nbytes)
{
	const char *p = VARDATA_ANY(v);
	int32		size = VARSIZE_ANY_EXHDR(v);

	if (kind == KIND_BYTES)
	{
		*data = (const uint8 *) p;
		*nbytes = size;
		return (int64) size * 8;
	}
	else
	{
		int32		bitlen;

		memcpy(&bitlen, p, sizeof(int32));
		*data = (const uint8 *) p + sizeof(int32);
		*nbytes = size - (int32) sizeof(int32);
		return bitlen;
	}
}

static void
query_init(QueryInfo *q, Datum d, ValueKind kind, const char *what)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));
	const uint8 *data;

	q->kind = kind;
	q->nbits = value_bits(v, kind, &data, &q->nbytes);
	if (q->nbits < 1 || q->nbits > JITSON_MAX_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the query has " INT64_FORMAT " %s; jitson values have 1 to 65536 bits (8192 bytes)",
						what, value_length(kind, q->nbits), kind_unit(kind))));
	q->rec_bytes = (q->nbytes + 7) & ~7;
	q->padded = palloc0(q->rec_bytes);
	memcpy(q->padded, data, q->nbytes);
}

static uint64
plain_distance(const uint8 *a, const uint8 *b, int32 n)
{
	uint64		d = 0;
	int32		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64		x,
					y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		d += pg_popcount64(x ^ y);
	}
	for (; i < n; i++)
		d += pg_number_of_ones[a[i] ^ b[i]];
	return d;
}

/* The intersection |a & b| and the union |a | b| of two values of n bytes. */
static void
plain_overlap(const uint8 *a, const uint8 *b, int32 n, uint64 *intersection, uint64 *union_bits)
{
	uint64		c = 0,
				u = 0;
	int32		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64		x,
					y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		c += pg_popcount64(x & y);
		u += pg_popcount64(x | y);
	}
	for (; i < n; i++)
	{
		c += pg_number_of_ones[a[i] & b[i]];
		u += pg_number_of_ones[a[i] | b[i]];
	}
	*intersection = c;
	*union_bits = u;
}

/* ---------------------------------------------------------------------
 * jitson_distance(a, b [, config]) and the <~> operator;
 * jitson_tanimoto(a, b [, config]), jitson_jaccard_distance(a, b) and <%>
 * ---------------------------------------------------------------------
 */

/* The two values of a two-value function, of the same length. */
typedef struct ValuePair
{
	const uint8 *a;
	const uint8 *b;
	int32		nbytes;
	int64		nbits;
} ValuePair;

static void
value_pair(FunctionCallInfo fcinfo, ValueKind kind, const char *fn, ValuePair *p)
{
	struct varlena *a = PG_GETARG_VARLENA_PP(0);
	struct varlena *b = PG_GETARG_VARLENA_PP(1);
	int32		nb;
	int64		lb;

	p->nbits = value_bits(a, kind, &p->a, &p->nbytes);
	lb = value_bits(b, kind, &p->b, &nb);
	if (p->nbits != lb)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_LENGTH_MISMATCH),
				 errmsg("%s: the values have different lengths, " INT64_FORMAT " and " INT64_FORMAT " %s; both must have the same length",
						fn, value_length(kind, p->nbits), value_length(kind, lb), kind_unit(kind))));
}

/*
 * The kernel of a config (its bound dropped) run over the pair: b as the one
 * record, a as the query.
 */
static void
pair_hit(const ValuePair *p, ValueKind kind, Jsonb *config, int metric, jitson_hit *hit)
{
	const char *fn = metric_fn[metric][FN_DISTANCE];
	CachedKernel *ck;
	uint8	   *pa,
			   *pb;
	int32		rec_bytes;
	char		err[JITSON_ERRLEN];
	int64		n;

	if (p->nbits < 1 || p->nbits > JITSON_MAX_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the values have " INT64_FORMAT " %s; a config applies to values of 1 to 65536 bits",
						fn, value_length(kind, p->nbits), kind_unit(kind))));
	rec_bytes = (p->nbytes + 7) & ~7;
	ck = prepare_config(config, (int64) rec_bytes * 8, true, metric, FN_DISTANCE);
	pa = palloc0(rec_bytes);
	pb = palloc0(rec_bytes);
	memcpy(pa, p->a, p->nbytes);
	memcpy(pb, p->b, p->nbytes);
	n = jitson_scan(ck->kernel, pa, pb, 1, hit, 1, NULL, err, sizeof(err));
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s: %s", fn, err)));
	if (n == 0)
		/* Only a statistical cascade may drop a record it was not sure of. */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the kernel returned no %s; use a config whose cascade mode is \"exact\" or \"off\"",
						fn, metric == JITSON_METRIC_TANIMOTO ? "similarity" : "distance")));
	pfree(pa);
	pfree(pb);
}

static int64
distance_common(FunctionCallInfo fcinfo, ValueKind kind, bool with_config)
{
	ValuePair	p;
	jitson_hit	hit;

	value_pair(fcinfo, kind, "jitson_distance", &p);
	if (!with_config || PG_ARGISNULL(2))
		return (int64) plain_distance(p.a, p.b, p.nbytes);
	pair_hit(&p, kind, PG_GETARG_JSONB_P(2), JITSON_METRIC_HAMMING, &hit);
	return hit.distance;
}

/*
 * The Tanimoto similarity c / u of two values, c = |a & b & focus| and
 * u = |(a | b) & focus| (focus: the config's, else every bit); 1 when u = 0
 * (two empty values are the same set).  The double nearest c / u: the same
 * double the kernels' hits decode to.
 */
static float8
tanimoto_common(FunctionCallInfo fcinfo, ValueKind kind, bool with_config, const char *fn)
{
	ValuePair	p;
	uint64		c,
				u;
	jitson_hit	hit;
	double		similarity;

	value_pair(fcinfo, kind, fn, &p);
	if (!with_config || PG_ARGISNULL(2))
	{
		plain_overlap(p.a, p.b, p.nbytes, &c, &u);
		return u == 0 ? 1.0 : (float8) c / (float8) u;
	}
	pair_hit(&p, kind, PG_GETARG_JSONB_P(2), JITSON_METRIC_TANIMOTO, &hit);
	jitson_tanimoto_of(&hit, NULL, NULL, &similarity);
	return similarity;
}

Datum
jitson_distance_bits(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) distance_common(fcinfo, KIND_BITS, PG_NARGS() > 2));
}

Datum
jitson_distance_bytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) distance_common(fcinfo, KIND_BYTES, PG_NARGS() > 2));
}

/* float8 like pgvector's <~>, so queries written for it keep their types. */
Datum
jitson_hamming_bits(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8((float8) distance_common(fcinfo, KIND_BITS, false));
}

Datum
jitson_hamming_bytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8((float8) distance_common(fcinfo, KIND_BYTES, false));
}

Datum
jitson_tanimoto_bits(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(tanimoto_common(fcinfo, KIND_BITS, PG_NARGS() > 2, "jitson_tanimoto"));
}

Datum
jitson_tanimoto_bytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(tanimoto_common(fcinfo, KIND_BYTES, PG_NARGS() > 2, "jitson_tanimoto"));
}

/*
 * 1 - T, pgvector's Jaccard distance (its <%>), evaluated as pgvector does:
 * 1 - (double) c / (double) u, the same double for the same values.  The one
 * difference: two values with no bit set (u = 0) are at distance 0 here
 * (T = 1, as in every jitson result) and 1 in pgvector.  Distinct
 * similarities give distinct distances (fractions with denominators up to
 * 65,536 are at least 2^-32 apart, far above the rounding of 1 - x), so
 * ORDER BY a <%> b, id orders exactly as jitson_topk_tanimoto does.
 */
Datum
jitson_jaccard_distance_bits(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(1.0 - tanimoto_common(fcinfo, KIND_BITS, false, "jitson_jaccard_distance"));
}

Datum
jitson_jaccard_distance_bytes(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(1.0 - tanimoto_common(fcinfo, KIND_BYTES, false, "jitson_jaccard_distance"));
}

/* ---------------------------------------------------------------------
 * Accumulators owned by memory contexts
 * ---------------------------------------------------------------------
 */

typedef struct AccHolder
{
	jitson_topk *acc;
	MemoryContextCallback cb;
} AccHolder;

static void
acc_holder_release(void *arg)
{
	AccHolder  *h = (AccHolder *) arg;

	if (h->acc != NULL)
	{
		jitson_topk_destroy(h->acc);
		h->acc = NULL;
	}
}

static AccHolder *
acc_holder_create(MemoryContext ctx, jitson_kernel *kernel, const uint8 *query)
{
	AccHolder  *h = MemoryContextAllocZero(ctx, sizeof(AccHolder));
	char		err[JITSON_ERRLEN];

	h->acc = jitson_topk_create(kernel, query, 1, err, sizeof(err));
	if (h->acc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("jitson: cannot create the top-k accumulator: %s", err)));
	h->cb.func = acc_holder_release;
	h->cb.arg = h;
	MemoryContextRegisterResetCallback(ctx, &h->cb);
	return h;
}

static int
hit_cmp(const void *a, const void *b)
{
	const jitson_hit *x = (const jitson_hit *) a;
	const jitson_hit *y = (const jitson_hit *) b;

	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

/*
 * jitson orders ties by unsigned row id; flipping the sign bit maps signed
 * ids onto unsigned ones in the same order, so ties come out as
 * ORDER BY distance, id would give them.
 */
static inline uint64
id_to_row(int64 id)
{
	return (uint64) id ^ (UINT64CONST(1) << 63);
}

static inline int64
row_to_id(uint64 row)
{
	return (int64) (row ^ (UINT64CONST(1) << 63));
}

/* ---------------------------------------------------------------------
 * jitson_topk(config, query, tbl, col [, id_col [, filter]])
 * ---------------------------------------------------------------------
 */

/*
 * Values read where they lie in pinned heap pages: no copy.  A batch spans
 * up to JITSON_GATHER_PAGES pages while only each tuple's first lines are
 * prefetched as the pages are listed: the gather feed's own prefetch then
 * carries the stream, and it starts cold at each batch (Zen 4, a top-10
 * over 200,000 PLAIN values: 16 pages 29.5 ms, 30 pages 28.3; in a later
 * cluster 7 pages 34.3 against 32 pages 32.1).  Through a bulk-read ring of 32 buffers a batch spans at most
 * JITSON_RING_GATHER_PAGES, so that the ring keeps buffers to recycle.
 *
 * Where the CPU gains by prefetching the lines the scan reads as the pages
 * are listed (jitson_topk_listing_prefetch_bytes), batches are small, so
 * that their pins fit in PostgreSQL's private reference-count array (8
 * entries; beyond them every pin and unpin is a hash table probe, 13 % of
 * the walk): JITSON_PREFETCHED_GATHER_PAGES for the TOAST pass, and for the
 * heap two batches of JITSON_PIPELINED_GATHER_PAGES, the next listed while
 * the current one is read, its records prefetched before the current one
 * is fed, so that the feed never starts cold.  Zen 5, a
 * top-10 over 200,000 PLAIN values, builds alternated: 32 pages 22.4-22.9
 * ms, 7 pages 21.8-22.3; then, 8 runs alternated, 7 pages median 21.8 ms,
 * two batches of 3 pages 21.25.
 */
#define JITSON_GATHER_PAGES 32
#define JITSON_RING_GATHER_PAGES 16
#define JITSON_PREFETCHED_GATHER_PAGES 7
#define JITSON_PIPELINED_GATHER_PAGES 3

/*
 * Where a table's pages lay in shared buffers when this backend last read
 * them.  A page with a hint is pinned by ReadRecentBuffer, which checks the
 * buffer's tag under its header lock, instead of ReadBufferExtended's
 * buffer-mapping lookup (a hash probe under a partition lock: 28 % of a
 * top-10 over 200,000 PLAIN values, which went from 62 to 36 ms).  A stale
 * hint (the page evicted, the buffer reused) fails the tag check and the
 * page is read the ordinary way.  Only tables no larger than shared buffers
 * get hints, at most PAGE_HINT_RELS of them, so hints never take more than
 * PAGE_HINT_RELS * NBuffers * 4 bytes.
 */
#define PAGE_HINT_RELS 4

typedef struct PageHints
{
	RelFileNode node;
	BlockNumber capacity;
	Buffer	   *buffers;		/* InvalidBuffer where unknown */
	uint64		last_used;
} PageHints;

static PageHints page_hints[PAGE_HINT_RELS];
static uint64 page_hint_clock = 0;

typedef struct GatherBatch
{
	HeapTupleData tuples[JITSON_CHUNK_ROWS];	/* visible tuples of the pinned pages */
	int			ntuples;
	const uint8 *records[JITSON_CHUNK_ROWS];
	uint64		rows[JITSON_CHUNK_ROWS];
	int			n;
	Buffer		pinned[JITSON_GATHER_PAGES];
	int			npinned;
	int			max_pages;		/* pages a batch spans (JITSON_GATHER_PAGES) */
	PageHints  *hints;			/* NULL: the table gets none */
} GatherBatch;

typedef struct JScanState
{
	QueryInfo	q;
	AccHolder  *holder;
	uint8	   *chunk;
	uint64	   *rows;
	int			n;
	int			cap;			/* records the chunk holds */
	MemoryContext tmpctx;		/* detoasted copies, reset per chunk */
	const char *fn;				/* the SQL function, for messages */
	bool		gather;			/* in-line values fed where they lie, else copied */
	const char *relname;		/* NULL: an aggregate's input (rows are ids) */
	const char *colname;
	bool		ctid_ids;
} JScanState;

/* A scan's chunk buffer (an L2's worth of records), its row ids and its context for detoasted copies. */
static void
scan_buffers(JScanState *s)
{
	s->cap = chunk_rows(s->q.rec_bytes);
	s->chunk = palloc((size_t) s->cap * s->q.rec_bytes);
	s->rows = palloc(sizeof(uint64) * JITSON_CHUNK_ROWS);
	s->tmpctx = AllocSetContextCreate(CurrentMemoryContext, "jitson chunk", ALLOCSET_DEFAULT_SIZES);
}

/* The library refused a call (a bug of ours if it happens): its message as an SQL error. */
static pg_attribute_noreturn() void
library_failed(const char *fn, const char *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("%s: %s", fn, err)));
	pg_unreachable();
}

static void
scan_flush(JScanState *s)
{
	char		err[JITSON_ERRLEN];

	if (s->n > 0 &&
		jitson_topk_feed(s->holder->acc, s->chunk, s->n, s->rows, 0, NULL,
						 err, sizeof(err)) != 0)
		library_failed(s->fn, err);
	s->n = 0;
	MemoryContextReset(s->tmpctx);
	/* Between chunks: statement_timeout and pg_cancel_backend act here. */
	CHECK_FOR_INTERRUPTS();
}

static char *
row_label(JScanState *s, uint64 row)
{
	if (s->ctid_ids)
		return psprintf("(%u,%u)", (unsigned) (row >> 16), (unsigned) (row & 0xffff));
	return psprintf(INT64_FORMAT, row_to_id(row));
}

/* A value of an aggregate's input whose length is not the query's. */
static pg_attribute_noreturn() void
agg_length_error(const char *fn, int64 id, ValueKind kind, int64 nbits, int64 query_bits)
{
	ereport(ERROR,
			(errcode(ERRCODE_STRING_DATA_LENGTH_MISMATCH),
			 errmsg("%s: the value of id " INT64_FORMAT " has " INT64_FORMAT " %s but the query has " INT64_FORMAT "; every value must have the query's length",
					fn, id, value_length(kind, nbits), kind_unit(kind),
					value_length(kind, query_bits))));
	pg_unreachable();
}

/* A scanned value whose length is not the query's (relname NULL: an aggregate's input). */
static pg_attribute_noreturn() void
length_error(JScanState *s, uint64 row, int64 nbits)
{
	if (s->relname == NULL)
		agg_length_error(s->fn, row_to_id(row), s->q.kind, nbits, s->q.nbits);
	ereport(ERROR,
			(errcode(ERRCODE_STRING_DATA_LENGTH_MISMATCH),
			 errmsg("%s: row %s of %s: column \"%s\" holds " INT64_FORMAT " %s but the query has " INT64_FORMAT "; every value must have the query's length",
					s->fn, row_label(s, row), s->relname, s->colname,
					value_length(s->q.kind, nbits), kind_unit(s->q.kind),
					value_length(s->q.kind, s->q.nbits))));
	pg_unreachable();
}

/* Copies one value into the chunk; the value is a Datum of the column. */
static void
scan_add(JScanState *s, Datum d, uint64 row)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(d);
	struct varlena *v;
	const uint8 *data;
	int32		nbytes;
	int64		nbits;
	uint8	   *dst;

	v = pg_detoast_datum_packed(raw);
	nbits = value_bits(v, s->q.kind, &data, &nbytes);
	if (nbits != s->q.nbits)
		length_error(s, row, nbits);
	dst = s->chunk + (size_t) s->n * s->q.rec_bytes;
	memcpy(dst, data, nbytes);
	if (nbytes < s->q.rec_bytes)
		memset(dst + nbytes, 0, s->q.rec_bytes - nbytes);
	s->rows[s->n] = row;
	if (++s->n == s->cap)
		scan_flush(s);
}

static ValueKind
type_kind(Oid typid, bool *ok)
{
	Oid			base = getBaseType(typid);

	*ok = true;
	if (base == BITOID || base == VARBITOID)
		return KIND_BITS;
	if (base == BYTEAOID)
		return KIND_BYTES;
	*ok = false;
	return KIND_BITS;
}

static void
check_value_type(const char *fn, Oid typid, ValueKind want, const char *relname,
				 const char *colname)
{
	bool		ok;
	ValueKind	kind = type_kind(typid, &ok);

	if (!ok || kind != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: column \"%s\" of %s has type %s; with a %s query it must be %s",
						fn, colname, relname, format_type_be(typid),
						want == KIND_BITS ? "bit" : "bytea",
						want == KIND_BITS ? "bit(n) or bit varying" : "bytea")));
}

static void
check_id_type(const char *fn, Oid typid, const char *relname, const char *colname)
{
	Oid			base = getBaseType(typid);

	if (base != INT2OID && base != INT4OID && base != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: id column \"%s\" of %s has type %s; ids must be smallint, integer or bigint",
						fn, colname, relname, format_type_be(typid))));
}

/* An id of an int2, int4 or int8 column; basetype is its type's getBaseType, looked up once. */
static int64
id_datum(Datum d, Oid basetype)
{
	switch (basetype)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

static AttrNumber
user_column(const char *fn, Oid relid, const char *relname, const char *colname, Oid *typid)
{
	AttrNumber	attnum = get_attnum(relid, colname);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: column \"%s\" of %s does not exist", fn, colname, relname)));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" is a system column; name a user column of %s",
						fn, colname, relname)));
	*typid = get_atttype(relid, attnum);
	return attnum;
}

static void
null_id_error(JScanState *s, const char *idcol)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s: a row of %s has a NULL id in column \"%s\"; ids must not be NULL",
					s->fn, s->relname, idcol)));
}

/*
 * TOAST in bulk.  A bit(16384) value (2 KB) is moved out of line by default,
 * and detoasting it row by row costs an index lookup and a page visit per
 * value: most of an exact scan's time.  Instead the heap pass only notes
 * which TOAST value belongs to which row, and a second pass reads the TOAST
 * table sequentially under the same snapshot (the chunks of a row visible to
 * it are visible to it too), assembling each value straight into the chunk
 * buffer.  Anything unexpected (a compressed value, an unexpected size, a
 * chunk that never shows up) falls back to ordinary detoasting.
 */
typedef struct ToastEntry
{
	Oid			valueid;		/* va_valueid of the TOAST pointer */
	int32		slot;			/* chunk buffer slot, or TOAST_NEW/DONE/FALLBACK */
	int32		missing;		/* payload bytes still to come */
	uint64		row;
	uint8		header[4];		/* a bit string's length word */
} ToastEntry;

/*
 * The noted values, an array sorted by valueid for the TOAST pass.  Values
 * are numbered as they are stored, and the TOAST table holds their chunks
 * in about that order, so the pass finds nearly every chunk's entry at or
 * just after the previous one (cursor) and walks the array sequentially;
 * a binary search finds the rest.  A hash table costs a cache miss per
 * lookup here, which came to a third of the scan.
 */
typedef struct ToastPass
{
	ToastEntry *entries;
	int64		nentries;
	int64		capacity;
	int64		cursor;
	Oid			toastrelid;
	int32		payload;		/* bytes of a value as TOAST stores it */
	MemoryContext ctx;			/* where entries grow; NULL: the backend's kept array */
	ToastEntry *slots[JITSON_CHUNK_ROWS];
	int			incomplete;
	uint8		skip[JITSON_CHUNK_ROWS / 8];
} ToastPass;

static int
toast_entry_cmp(const void *a, const void *b)
{
	Oid			x = ((const ToastEntry *) a)->valueid;
	Oid			y = ((const ToastEntry *) b)->valueid;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * How far past the cursor toast_find looks before a binary search: a TOAST
 * page holds the chunks of a few consecutive values, which gather_pages
 * lists last value first, so the cursor steps back one value at a time
 * within a page and jumps a page's values ahead at the next.
 */
#define TOAST_CURSOR_AHEAD 8

/* The entry of a TOAST value, or NULL for a value no visible row of ours has. */
static inline ToastEntry *
toast_find(ToastPass *tp, Oid valueid)
{
	int64		c = tp->cursor;
	int64		lo = 0,
				hi = tp->nentries;

	for (int64 near = Max(c - 1, 0); near < Min(c + TOAST_CURSOR_AHEAD, tp->nentries); near++)
		if (tp->entries[near].valueid == valueid)
		{
			tp->cursor = near;
			return &tp->entries[near];
		}
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (tp->entries[mid].valueid < valueid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < tp->nentries && tp->entries[lo].valueid == valueid)
	{
		tp->cursor = lo;
		return &tp->entries[lo];
	}
	return NULL;
}

/* Detoasts one value the ordinary way (TOAST index lookups). */
static void
toast_fallback(JScanState *s, ToastPass *tp, ToastEntry *e)
{
	char		buf[VARHDRSZ_EXTERNAL + sizeof(struct varatt_external)];
	struct varatt_external ext;
	MemoryContext old;

	ext.va_rawsize = tp->payload + VARHDRSZ;
	ext.va_extinfo = (uint32) tp->payload;
	ext.va_valueid = e->valueid;
	ext.va_toastrelid = tp->toastrelid;
	SET_VARTAG_EXTERNAL(buf, VARTAG_ONDISK);
	memcpy(VARDATA_EXTERNAL(buf), &ext, sizeof(ext));
	old = MemoryContextSwitchTo(s->tmpctx);
	scan_add(s, PointerGetDatum(buf), e->row);
	MemoryContextSwitchTo(old);
}

#define TOAST_NEW (-1)			/* no chunk seen yet */
#define TOAST_DONE (-2)			/* assembled and fed */
#define TOAST_FALLBACK (-3)		/* to be detoasted the ordinary way */

/*
 * Feeds the complete values in the chunk buffer, skipping the rest.  With
 * keep, values still waiting for chunks move to the front of the buffer;
 * without, they are left to toast_fallback.
 */
static void
toast_feed(JScanState *s, ToastPass *tp, bool keep)
{
	char		err[JITSON_ERRLEN];
	bool		any_skip = false;
	int			i,
				j = 0;

	memset(tp->skip, 0, sizeof(tp->skip));
	for (i = 0; i < s->n; i++)
	{
		ToastEntry *e = tp->slots[i];

		if (e == NULL || e->missing > 0)
		{
			tp->skip[i / 8] |= (uint8) (1 << (i % 8));
			any_skip = true;
		}
	}
	if (s->n > 0 &&
		jitson_topk_feed(s->holder->acc, s->chunk, s->n, s->rows, 0,
						 any_skip ? tp->skip : NULL, err, sizeof(err)) != 0)
		library_failed(s->fn, err);
	for (i = 0; i < s->n; i++)
	{
		ToastEntry *e = tp->slots[i];

		tp->slots[i] = NULL;
		if (e == NULL)
			continue;
		if (e->missing == 0)
			e->slot = TOAST_DONE;
		else if (!keep)
			e->slot = TOAST_FALLBACK;
		else
		{
			if (i != j)
				memcpy(s->chunk + (size_t) j * s->q.rec_bytes,
					   s->chunk + (size_t) i * s->q.rec_bytes, s->q.rec_bytes);
			s->rows[j] = s->rows[i];
			tp->slots[j] = e;
			e->slot = j;
			j++;
		}
	}
	s->n = j;
	tp->incomplete = j;
	MemoryContextReset(s->tmpctx);
	CHECK_FOR_INTERRUPTS();
}

static void
toast_chunk(JScanState *s, ToastPass *tp, ToastEntry *e, int32 seq, struct varlena *chunk)
{
	const uint8 *data = (const uint8 *) VARDATA_ANY(chunk);
	int64		len = VARSIZE_ANY_EXHDR(chunk);
	int64		off = (int64) seq * TOAST_MAX_CHUNK_SIZE;
	int			hdr = s->q.kind == KIND_BITS ? 4 : 0;
	uint8	   *rec;

	if (e->slot == TOAST_DONE || e->slot == TOAST_FALLBACK)
		return;
	if (seq < 0 || VARATT_IS_EXTENDED(chunk) || off + len > tp->payload ||
		len > (e->slot == TOAST_NEW ? tp->payload : e->missing))
	{
		/* not a chunk we understand: leave the value to detoasting */
		if (e->slot >= 0)
		{
			tp->slots[e->slot] = NULL;
			tp->incomplete--;
		}
		e->slot = TOAST_FALLBACK;
		return;
	}
	if (e->slot == TOAST_NEW)
	{
		if (s->n == s->cap)
			toast_feed(s, tp, true);
		if (s->n == s->cap)
		{
			/* every slot waits for a chunk: unheard of, but stay correct */
			e->slot = TOAST_FALLBACK;
			return;
		}
		e->slot = s->n++;
		e->missing = tp->payload;
		tp->slots[e->slot] = e;
		s->rows[e->slot] = e->row;
		tp->incomplete++;
		rec = s->chunk + (size_t) e->slot * s->q.rec_bytes;
		if (s->q.nbytes < s->q.rec_bytes)
			memset(rec + s->q.nbytes, 0, s->q.rec_bytes - s->q.nbytes);
	}
	rec = s->chunk + (size_t) e->slot * s->q.rec_bytes;
	while (len > 0 && off < hdr)
	{
		e->header[off++] = *data++;
		len--;
		e->missing--;
	}
	memcpy(rec + (off - hdr), data, len);
	e->missing -= len;
	if (e->missing == 0)
	{
		tp->incomplete--;
		if (hdr)
		{
			int32		bitlen;

			memcpy(&bitlen, e->header, sizeof(int32));
			if (bitlen != s->q.nbits)
				length_error(s, e->row, bitlen);
		}
	}
}

static BlockNumber gather_pages(GatherBatch *g, TableScanDesc scan, BlockNumber blk,
								uint32 prefetch_bytes);
static GatherBatch *gather_batch_new(TableScanDesc scan, PageHints *hints, uint32 prefetch_bytes,
									 int prefetched_pages);
static PageHints *page_hints_for(Relation rel, BlockNumber nblocks);

/*
 * TOAST chunks whose lines are asked for while an earlier one is copied: 4 took a
 * top-10 over 200,000 values from 80 to 72-73 ms (2 before; 8 gave 75).  Where
 * the chunks are listed whole too (Zen 5) it still counts: 30 ms, 45 without.
 */
#define TOAST_PREFETCH_AHEAD 4

/*
 * What gather_pages prefetches of each tuple it lists: its header and the
 * value's length word, or, where the library says this CPU gains by it
 * (jitson_topk_listing_prefetch_bytes), every line the scan will read too.
 * Zen 5, 200,000 values, builds alternated: PLAIN top-10 28.0 -> 26.2 ms,
 * the 1-word-focus walk 17.7 -> 9.1 ms; TOAST chunks listed whole (and the
 * pass's batches of 7 pages that follow from it), with default storage,
 * 34.7 -> 31.5 ms (in line pointer order and 32 pages a batch it had lost:
 * 34.9 -> 36.6).
 */
#define LISTING_FIRST_BYTES 128

/*
 * jitson.listing_prefetch: auto follows the library's per-CPU answer; on and
 * off force either shape of the scan (with its batches, see
 * JITSON_GATHER_PAGES) on any CPU, for measurements and for the tests.
 */
typedef enum ListingPrefetch
{
	LISTING_PREFETCH_AUTO,
	LISTING_PREFETCH_ON,
	LISTING_PREFETCH_OFF
} ListingPrefetch;

static int	listing_prefetch = LISTING_PREFETCH_AUTO;

static const struct config_enum_entry listing_prefetch_options[] = {
	{"auto", LISTING_PREFETCH_AUTO, false},
	{"on", LISTING_PREFETCH_ON, false},
	{"off", LISTING_PREFETCH_OFF, false},
	{NULL, 0, false}
};

/* copied: the scan reads the tuple's value whole, whatever the focus (a copy, a TOAST chunk) */
static uint32
listing_prefetch_bytes(JScanState *s, bool copied)
{
	uint32		bytes;

	if (listing_prefetch == LISTING_PREFETCH_OFF)
		return LISTING_FIRST_BYTES;
	bytes = listing_prefetch == LISTING_PREFETCH_ON ? (uint32) s->q.rec_bytes
		: jitson_topk_listing_prefetch_bytes(s->holder->acc);
	if (bytes == 0)
		return LISTING_FIRST_BYTES;
	return copied ? BLCKSZ : LISTING_FIRST_BYTES + bytes;
}

void
_PG_init(void)
{
	DefineCustomEnumVariable("jitson.listing_prefetch",
							 "Whether a scan prefetches the lines it will read of each value as it lists a page's tuples.",
							 "auto: where the library measured that this CPU gains by it; on, off: always, never.",
							 &listing_prefetch, LISTING_PREFETCH_AUTO, listing_prefetch_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("jitson");
}
static void gather_flush(JScanState *s, GatherBatch *g);

/* One chunk tuple of the TOAST table (chunk_id, chunk_seq, chunk_data). */
static inline void
toast_tuple(JScanState *s, ToastPass *tp, const Datum *values, const bool *isnull)
{
	ToastEntry *e;

	if (isnull[0] || isnull[1] || isnull[2])
		return;
	e = toast_find(tp, DatumGetObjectId(values[0]));
	if (e == NULL)
		return;					/* another column's value, or a row we do not see */
	toast_chunk(s, tp, e, DatumGetInt32(values[1]), (struct varlena *) DatumGetPointer(values[2]));
}

/*
 * Whether a TOAST table's tuples can be read at fixed places: chunk_id and
 * chunk_seq take 4 bytes each after the tuple header (t_hoff is maxaligned),
 * and chunk_data follows at offset 8, which is int-aligned, so neither
 * header form of the bytea moves it.  heap_getattr found them at 11 % of a
 * top-10 over 200,000 TOASTed values.
 */
static bool
toast_desc_fixed(TupleDesc desc)
{
	return desc->natts == 3 && TupleDescAttr(desc, 0)->attlen == 4 &&
		TupleDescAttr(desc, 1)->attlen == 4 && TupleDescAttr(desc, 2)->attlen == -1 &&
		TupleDescAttr(desc, 2)->attalign == TYPALIGN_INT;
}

/* A chunk tuple's columns, read at their places when toast_desc_fixed holds and it has no nulls. */
static inline void
toast_tuple_columns(HeapTuple tuple, TupleDesc desc, bool fixed, Datum *values, bool *isnull)
{
	int			a;

	if (fixed && !HeapTupleHasNulls(tuple) && HeapTupleHeaderGetNatts(tuple->t_data) == 3)
	{
		const char *p = (const char *) tuple->t_data + tuple->t_data->t_hoff;

		values[0] = ObjectIdGetDatum(*(const Oid *) p);
		values[1] = Int32GetDatum(*(const int32 *) (p + 4));
		values[2] = PointerGetDatum(p + 8);
		isnull[0] = isnull[1] = isnull[2] = false;
		return;
	}
	for (a = 0; a < 3; a++)
		values[a] = heap_getattr(tuple, a + 1, desc, &isnull[a]);
}

/*
 * Second pass: the TOAST table, sequentially, page at a time as
 * scan_heap_pages reads the table (through slots when it cannot).
 */
static void
scan_toast(JScanState *s, ToastPass *tp)
{
	Relation	toastrel = table_open(tp->toastrelid, AccessShareLock);
	TableScanDesc scan = table_beginscan_strat(toastrel, GetActiveSnapshot(), 0, NULL, true, false);
	int64		i;
	Datum		values[3];
	bool		isnull[3];

	int64		dup;

	/* sorted; a value two rows point at (never made by PostgreSQL) is detoasted for each */
	for (dup = 1; dup < tp->nentries; dup++)
		if (tp->entries[dup].valueid <= tp->entries[dup - 1].valueid)
			break;
	if (dup < tp->nentries)
		qsort(tp->entries, tp->nentries, sizeof(ToastEntry), toast_entry_cmp);
	for (dup = 1; dup < tp->nentries; dup++)
		if (tp->entries[dup].valueid == tp->entries[dup - 1].valueid)
			tp->entries[dup - 1].slot = tp->entries[dup].slot = TOAST_FALLBACK;
	tp->cursor = 0;
	memset(tp->slots, 0, sizeof(tp->slots));
	tp->incomplete = 0;
	Assert(s->n == 0);
#if PG_VERSION_NUM < 170000
	if (scan->rs_flags & SO_ALLOW_PAGEMODE)
	{
		TupleDesc	desc = RelationGetDescr(toastrel);
		bool		fixed = toast_desc_fixed(desc);
		uint32		prefetch_bytes = listing_prefetch_bytes(s, true);
		GatherBatch *g = gather_batch_new(scan, page_hints_for(toastrel, ((HeapScanDesc) scan)->rs_nblocks),
										  prefetch_bytes, JITSON_PREFETCHED_GATHER_PAGES);
		BlockNumber blk = 0;

		while (blk < ((HeapScanDesc) scan)->rs_nblocks)
		{
			int			i;

			blk = gather_pages(g, scan, blk, prefetch_bytes);
			for (i = 0; i < g->ntuples; i++)
			{
				/* the chunk is copied whole: ask for a later one's lines meanwhile */
				if (i + TOAST_PREFETCH_AHEAD < g->ntuples)
				{
					HeapTuple	ahead = &g->tuples[i + TOAST_PREFETCH_AHEAD];

					for (uint32 at = 128; at < ahead->t_len; at += 64)
						__builtin_prefetch((const char *) ahead->t_data + at, 0, 1);
				}
				toast_tuple_columns(&g->tuples[i], desc, fixed, values, isnull);
				toast_tuple(s, tp, values, isnull);
			}
			g->ntuples = 0;
			gather_flush(s, g);	/* no records: releases the pages */
		}
		pfree(g);
	}
	else
#endif
	{
		TupleTableSlot *slot = table_slot_create(toastrel, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			slot_getsomeattrs(slot, 3);
			toast_tuple(s, tp, slot->tts_values, slot->tts_isnull);
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	table_endscan(scan);
	toast_feed(s, tp, false);

	for (i = 0; i < tp->nentries; i++)
		if (tp->entries[i].slot != TOAST_DONE)
			toast_fallback(s, tp, &tp->entries[i]);
	scan_flush(s);
	table_close(toastrel, AccessShareLock);
}

/*
 * The pass reads the whole TOAST table, so it pays only for enough values:
 * a TOAST page read in sequence costs about a third of a value detoasted
 * through the TOAST index (Zen 5, 200,000 bit(16384) values: the pass 30 ms
 * over 66,000 pages, 0.45 us a page; detoasting 283 ms, 1.4 us a value).
 */
#define TOAST_PASS_PAGES_PER_VALUE 3

/* Scans the noted values, through the pass or one at a time, and forgets them. */
static void
toast_resolve(JScanState *s, ToastPass *tp)
{
	Relation	toastrel;
	BlockNumber pages;
	int64		i;

	if (tp == NULL || tp->nentries == 0)
		return;
	toastrel = table_open(tp->toastrelid, AccessShareLock);
	pages = RelationGetNumberOfBlocks(toastrel);
	table_close(toastrel, AccessShareLock);
	if ((uint64) tp->nentries * TOAST_PASS_PAGES_PER_VALUE >= pages)
		scan_toast(s, tp);
	else
	{
		for (i = 0; i < tp->nentries; i++)
		{
			toast_fallback(s, tp, &tp->entries[i]);
			if ((i & (JITSON_CHUNK_ROWS - 1)) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		scan_flush(s);
	}
	tp->nentries = 0;
}

/* The row id of a tuple: its id column's value, or its ctid. */
static inline uint64
tuple_row(JScanState *s, bool has_id, Datum id, bool id_isnull, Oid idtype,
		  const char *idcol, ItemPointer tid)
{
	if (!has_id)
		return ((uint64) ItemPointerGetBlockNumber(tid) << 16) | ItemPointerGetOffsetNumber(tid);
	if (id_isnull)
		null_id_error(s, idcol);
	return id_to_row(id_datum(id, idtype));
}

/*
 * The TOAST pass's entries live in one array per backend, kept between
 * scans up to TOAST_ENTRIES_KEPT entries (24 MB): a new array costs a page
 * fault per 4 KB on first write, 7 % of a top-10 over 200,000 TOASTed values.
 */
#define TOAST_ENTRIES_KEPT ((int64) 1 << 20)

static ToastEntry *toast_entries = NULL;
static int64 toast_entries_capacity = 0;

/* Makes room for capacity entries in the backend's array, keeping those noted. */
static void
toast_entries_reserve(ToastPass *tp, int64 capacity)
{
	if (capacity > toast_entries_capacity)
	{
		toast_entries = toast_entries == NULL
			? MemoryContextAllocHuge(TopMemoryContext, sizeof(ToastEntry) * capacity)
			: repalloc_huge(toast_entries, sizeof(ToastEntry) * capacity);
		toast_entries_capacity = capacity;
	}
	tp->entries = toast_entries;
	tp->capacity = toast_entries_capacity;
}

/* After a scan (or before one, should an error have skipped that): returns a big array. */
static void
toast_entries_trim(void)
{
	if (toast_entries_capacity > TOAST_ENTRIES_KEPT)
	{
		pfree(toast_entries);
		toast_entries = NULL;
		toast_entries_capacity = 0;
	}
}

/*
 * Doubles a pass's room for entries, in its own context (from 16: an
 * aggregate state per GROUP BY group may note few) or the backend's array.
 */
static void
toast_entries_grow(ToastPass *tp)
{
	int64		capacity;

	if (tp->ctx == NULL)
	{
		toast_entries_reserve(tp, Max(tp->capacity * 2, 1024));
		return;
	}
	capacity = Max(tp->capacity * 2, 16);
	tp->entries = tp->entries == NULL
		? MemoryContextAllocHuge(tp->ctx, sizeof(ToastEntry) * capacity)
		: repalloc_huge(tp->entries, sizeof(ToastEntry) * capacity);
	tp->capacity = capacity;
}

/* Notes a value kept out of line in TOAST for scan_toast; false when it is no such value. */
static bool
toast_note(ToastPass *tp, Datum v, uint64 row)
{
	struct varatt_external ext;
	ToastEntry *e;

	if (tp == NULL || !VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(v)))
		return false;
	VARATT_EXTERNAL_GET_POINTER(ext, DatumGetPointer(v));
	if (VARATT_EXTERNAL_IS_COMPRESSED(ext) || ext.va_toastrelid != tp->toastrelid ||
		VARATT_EXTERNAL_GET_EXTSIZE(ext) != (uint32) tp->payload)
		return false;
	if (tp->nentries == tp->capacity)
		toast_entries_grow(tp);
	e = &tp->entries[tp->nentries++];
	e->valueid = ext.va_valueid;
	e->slot = TOAST_NEW;
	e->missing = 0;
	e->row = row;
	return true;
}

/*
 * The notes since from, one page's, listed in memory order (gather_pages),
 * back in line pointer order: the order the values were stored in, which
 * keeps the array sorted for scan_toast without a sort.
 */
static void
toast_notes_reverse(ToastPass *tp, int64 from)
{
	int64		lo = from,
				hi = tp->nentries - 1;

	for (; lo < hi; lo++, hi--)
	{
		ToastEntry	t = tp->entries[lo];

		tp->entries[lo] = tp->entries[hi];
		tp->entries[hi] = t;
	}
}

/* A value kept in the heap goes to the chunk (a copy), one in TOAST to the TOAST pass. */
static void
scan_value(JScanState *s, ToastPass *tp, Datum v, uint64 row)
{
	MemoryContext old;

	if (toast_note(tp, v, row))
		return;
	old = MemoryContextSwitchTo(s->tmpctx);
	scan_add(s, v, row);
	MemoryContextSwitchTo(old);
}

/*
 * The payload of an uncompressed in-line value of exactly the query's
 * record size, which the kernel can read where it lies; NULL for anything
 * else (TOAST, compressed, padded to a multiple of 8 bytes, or of another
 * length, which scan_add reports).
 */
static const uint8 *
inline_record(JScanState *s, Datum v)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(v);
	const uint8 *data;
	int32		nbytes;

	if (VARATT_IS_EXTENDED(raw) && !VARATT_IS_SHORT(raw))
		return NULL;
	if (value_bits(raw, s->q.kind, &data, &nbytes) != s->q.nbits || nbytes != s->q.rec_bytes)
		return NULL;
	return data;
}

static void
gather_flush(JScanState *s, GatherBatch *g)
{
	char		err[JITSON_ERRLEN];
	int			i;

	if (g->n > 0 &&
		jitson_topk_feed_gather(s->holder->acc, g->records, g->n, g->rows, 0, NULL,
								err, sizeof(err)) != 0)
		library_failed(s->fn, err);
	g->n = 0;
	for (i = 0; i < g->npinned; i++)
		ReleaseBuffer(g->pinned[i]);
	g->npinned = 0;
}

/*
 * A batch for a scan whose listing prefetches prefetch_bytes of each tuple;
 * prefetched_pages: the pages it spans when that covers the lines read.
 */
static GatherBatch *
gather_batch_new(TableScanDesc scan, PageHints *hints, uint32 prefetch_bytes, int prefetched_pages)
{
	GatherBatch *g = palloc0(sizeof(GatherBatch));

	g->hints = hints;
	if (prefetch_bytes > LISTING_FIRST_BYTES)
		g->max_pages = prefetched_pages;
	else
		g->max_pages = ((HeapScanDesc) scan)->rs_strategy != NULL
			? JITSON_RING_GATHER_PAGES : JITSON_GATHER_PAGES;
	return g;
}

/* The hints of a table about to be scanned, or NULL when it gets none. */
static PageHints *
page_hints_for(Relation rel, BlockNumber nblocks)
{
	PageHints  *h = NULL;
	int			i;

	if (RelationUsesLocalBuffers(rel) || nblocks == 0 || nblocks > (BlockNumber) NBuffers)
		return NULL;
	for (i = 0; i < PAGE_HINT_RELS && h == NULL; i++)
		if (page_hints[i].buffers != NULL && RelFileNodeEquals(page_hints[i].node, rel->rd_node))
			h = &page_hints[i];
	if (h == NULL)
	{
		h = &page_hints[0];
		for (i = 1; i < PAGE_HINT_RELS; i++)
			if (page_hints[i].last_used < h->last_used)
				h = &page_hints[i];
		if (h->buffers != NULL)
			pfree(h->buffers);
		h->buffers = NULL;
		h->capacity = 0;
		h->node = rel->rd_node;
	}
	if (h->capacity < nblocks)
	{
		/* zeroed: InvalidBuffer is 0 */
		Buffer	   *grown = MemoryContextAllocExtended(TopMemoryContext, sizeof(Buffer) * nblocks,
													   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

		if (h->buffers != NULL)
		{
			memcpy(grown, h->buffers, sizeof(Buffer) * h->capacity);
			pfree(h->buffers);
		}
		h->buffers = grown;
		h->capacity = nblocks;
	}
	h->last_used = ++page_hint_clock;
	return h;
}

/* Pins a page of the scan: through its hint when that still holds, else by a lookup. */
static Buffer
pin_page(HeapScanDesc hscan, PageHints *h, BlockNumber blk)
{
	Relation	rel = hscan->rs_base.rs_rd;
	Buffer		buf;

	if (h != NULL && BufferIsValid(h->buffers[blk]) &&
		ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, blk, h->buffers[blk]))
	{
		/* what ReadBufferExtended counts for pg_statio_*_tables */
		pgstat_count_buffer_read(rel);
		pgstat_count_buffer_hit(rel);
		return h->buffers[blk];
	}
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, hscan->rs_strategy);
	if (h != NULL)
		h->buffers[blk] = buf;
	return buf;
}

/*
 * How many pages ahead gather_pages asks for a page's header and buffer
 * descriptor, through the page hints (which know the buffer without a
 * pin): the pin and the listing otherwise wait on both, a demand miss each
 * behind the stream of values.  Zen 5, a top-10 over 200,000 PLAIN values,
 * 9 runs of builds alternated: median 21.2 -> 20.5 ms with 8 ahead (4 or 12
 * alike, 16 worse; the header alone or the descriptor alone no better).  On
 * Zen 4, with batches of 32 pages, it had made no difference.
 */
#define PAGE_PREFETCH_AHEAD 8

/*
 * Pins the next pages of the scan, up to the batch's pages or its
 * room, and lists their tuples visible to the scan's snapshot as heapgetpage
 * does (one check per page when it is all-visible), prefetching each one's
 * first prefetch_bytes: the header and the value's length word (and, where
 * it pays, the lines the scan reads) are then in cache when the tuples are
 * read, their misses overlapped with the next pages.  Tuples are listed in
 * memory order, last line pointer first (a page stores its tuples from its
 * end down), so that with a table laid out in consecutive buffers the scan
 * reads one ascending stream, which the hardware prefetchers follow: Zen 5,
 * a top-10 over 200,000 PLAIN values 26.3 -> 22.6 ms, builds alternated.
 */
static BlockNumber
gather_pages(GatherBatch *g, TableScanDesc scan, BlockNumber blk, uint32 prefetch_bytes)
{
	HeapScanDesc hscan = (HeapScanDesc) scan;
	Relation	rel = scan->rs_rd;
	Snapshot	snapshot = scan->rs_snapshot;
	Oid			relid = RelationGetRelid(rel);

	while (blk < hscan->rs_nblocks && g->npinned < g->max_pages &&
		   g->ntuples <= JITSON_CHUNK_ROWS - MaxHeapTuplesPerPage)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber lines,
					off;
		bool		all_visible;
		bool		check_ssi;
		int			listed = g->ntuples;

		/* at least once per page, as heapgetpage does */
		CHECK_FOR_INTERRUPTS();
		if (g->hints != NULL && blk + PAGE_PREFETCH_AHEAD < hscan->rs_nblocks &&
			BufferIsValid(g->hints->buffers[blk + PAGE_PREFETCH_AHEAD]))
		{
			/* a hint's buffer is one of shared buffers: a stale one costs two useless lines */
			Buffer		ahead = g->hints->buffers[blk + PAGE_PREFETCH_AHEAD];

			__builtin_prefetch(BufferGetPage(ahead), 0, 3);
			__builtin_prefetch(GetBufferDescriptor(ahead - 1), 1, 3);
		}
		buf = pin_page(hscan, g->hints, blk);
		heap_page_prune_opt(rel, buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		TestForOldSnapshot(snapshot, rel, page);
		lines = PageGetMaxOffsetNumber(page);
		all_visible = PageIsAllVisible(page) && !snapshot->takenDuringRecovery;
		/* what HeapCheckForSerializableConflictOut asks first, once per page */
		check_ssi = CheckForSerializableConflictOutNeeded(rel, snapshot);
		for (off = lines; off >= FirstOffsetNumber; off--)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTuple	tuple = &g->tuples[g->ntuples];
			bool		valid;
			uint32		end;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple->t_len = ItemIdGetLength(lp);
			tuple->t_tableOid = relid;
			ItemPointerSet(&tuple->t_self, blk, off);
			valid = all_visible || HeapTupleSatisfiesVisibility(tuple, snapshot, buf);
			if (check_ssi)
				HeapCheckForSerializableConflictOut(valid, rel, tuple, buf, snapshot);
			if (!valid)
				continue;
			g->ntuples++;

			/*
			 * The first lines into L2 (prefetcht2): a batch asks for hundreds of
			 * lines at once, and L1-bound requests stalled on its few miss
			 * buffers (Zen 4: TOAST top-10 107 -> 76 ms, PLAIN 73 -> 60 ms over
			 * 200,000 values). Whole tuples into L1 (prefetcht0), measured on
			 * Zen 5: PLAIN 24.7-29.2 ms into L2, 23.3-24.9 into L1.
			 */
			end = Min(tuple->t_len, prefetch_bytes);
			/* two loops: the locality hint must be a constant */
			if (prefetch_bytes <= LISTING_FIRST_BYTES)
				for (uint32 at = 0; at < end; at += 64)
					__builtin_prefetch((const char *) tuple->t_data + at, 0, 1);
			else
				for (uint32 at = 0; at < end; at += 64)
					__builtin_prefetch((const char *) tuple->t_data + at, 0, 3);
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		/* the batch keeps the pin while its tuples are read; a page with none is let go */
		if (g->ntuples > listed)
			g->pinned[g->npinned++] = buf;
		else
			ReleaseBuffer(buf);
		blk++;
	}
	return blk;
}

/*
 * The table page by page, as a sequential scan reads it: gather_pages pins
 * a page and lists the tuples visible to the caller's snapshot, checked
 * once per page.  The kernel reads in-line values inside the pinned pages
 * (no slot, no copy), a batch of pages at a time, whose pins the batch
 * holds until it is fed; without s->gather they are copied into the chunk
 * (topk_common says when).  Where the listing prefetches the values, the
 * next batch is listed before the current one is read (pipelined; see
 * JITSON_GATHER_PAGES).  Returns false, having read nothing, when the
 * scan cannot work page at a time (a snapshot that is not MVCC).
 */
static bool
scan_heap_pages(JScanState *s, Relation rel, ToastPass *tp, AttrNumber attnum,
				AttrNumber idattnum, Oid idtype, const char *idcol)
{
#if PG_VERSION_NUM < 170000
	TableScanDesc scan = table_beginscan_strat(rel, GetActiveSnapshot(), 0, NULL, true, false);
	HeapScanDesc hscan = (HeapScanDesc) scan;
	TupleDesc	desc = RelationGetDescr(rel);
	bool		has_id = idattnum != InvalidAttrNumber;
	uint32		prefetch_bytes = listing_prefetch_bytes(s, !s->gather);
	bool		pipelined = prefetch_bytes > LISTING_FIRST_BYTES;
	GatherBatch *batches[2];
	int			cur = 0;
	BlockNumber blk = 0;
	BlockNumber noting = InvalidBlockNumber;
	int64		page_notes = 0;

	if (!(scan->rs_flags & SO_ALLOW_PAGEMODE))
	{
		table_endscan(scan);
		return false;
	}
	batches[0] = gather_batch_new(scan, page_hints_for(rel, hscan->rs_nblocks), prefetch_bytes,
								  JITSON_PIPELINED_GATHER_PAGES);
	batches[1] = gather_batch_new(scan, batches[0]->hints, prefetch_bytes, JITSON_PIPELINED_GATHER_PAGES);
	blk = gather_pages(batches[0], scan, blk, prefetch_bytes);
	for (;;)
	{
		GatherBatch *g = batches[cur];
		GatherBatch *next = batches[1 - cur];
		int			i;

		if (pipelined && blk < hscan->rs_nblocks)
			blk = gather_pages(next, scan, blk, prefetch_bytes);
		for (i = 0; i < g->ntuples; i++)
		{
			HeapTuple	tuple = &g->tuples[i];
			bool		isnull;
			bool		id_isnull = false;
			Datum		v;
			Datum		id = (Datum) 0;
			uint64		row;
			const uint8 *record;

			if (tp != NULL && ItemPointerGetBlockNumber(&tuple->t_self) != noting)
			{
				toast_notes_reverse(tp, page_notes);
				page_notes = tp->nentries;
				noting = ItemPointerGetBlockNumber(&tuple->t_self);
			}
			v = heap_getattr(tuple, attnum, desc, &isnull);
			if (isnull)
				continue;		/* a NULL value is no candidate, as in ORDER BY ... IS NOT NULL */
			if (has_id)
				id = heap_getattr(tuple, idattnum, desc, &id_isnull);
			row = tuple_row(s, has_id, id, id_isnull, idtype, idcol, &tuple->t_self);
			record = inline_record(s, v);
			if (record != NULL && s->gather)
			{
				g->records[g->n] = record;
				g->rows[g->n++] = row;
			}
			else if (record != NULL)
			{
				memcpy(s->chunk + (size_t) s->n * s->q.rec_bytes, record, s->q.rec_bytes);
				s->rows[s->n] = row;
				if (++s->n == s->cap)
					scan_flush(s);
			}
			else
				scan_value(s, tp, v, row);
		}
		g->ntuples = 0;
		if (pipelined)
			for (i = 0; i < next->ntuples; i++)
			{
				/* its lines on their way before this batch is fed: the feed never starts cold */
				uint32		end = Min(next->tuples[i].t_len, prefetch_bytes);

				for (uint32 at = 0; at < end; at += 64)
					__builtin_prefetch((const char *) next->tuples[i].t_data + at, 0, 1);
			}
		gather_flush(s, g);
		if (!pipelined && blk < hscan->rs_nblocks)
			blk = gather_pages(next, scan, blk, prefetch_bytes);
		if (next->ntuples == 0 && next->npinned == 0 && blk >= hscan->rs_nblocks)
			break;
		cur = 1 - cur;
	}
	if (tp != NULL)
		toast_notes_reverse(tp, page_notes);
	scan_flush(s);
	table_endscan(scan);
	pfree(batches[0]);
	pfree(batches[1]);
	return true;
#else
	return false;
#endif
}

/* The same through the table AM's slots: any table AM, any snapshot. */
static void
scan_table_slots(JScanState *s, Relation rel, ToastPass *tp, AttrNumber attnum,
				 AttrNumber idattnum, Oid idtype, const char *idcol)
{
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	AttrNumber	natts = Max(attnum, idattnum);
	bool		has_id = idattnum != InvalidAttrNumber;
	uint64		seen = 0;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		uint64		row;

		slot_getsomeattrs(slot, natts);
		if (slot->tts_isnull[attnum - 1])
			continue;			/* a NULL value is no candidate, as in ORDER BY ... IS NOT NULL */
		row = tuple_row(s, has_id, has_id ? slot->tts_values[idattnum - 1] : (Datum) 0,
						has_id && slot->tts_isnull[idattnum - 1], idtype, idcol, &slot->tts_tid);
		if ((++seen & (JITSON_CHUNK_ROWS - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		scan_value(s, tp, slot->tts_values[attnum - 1], row);
	}
	scan_flush(s);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
}

/* The payload of a value of the query's length as TOAST stores it (a bit string's length word too). */
static int32
toast_payload(const QueryInfo *q)
{
	return q->kind == KIND_BITS ? q->nbytes + 4 : q->nbytes;
}

/* A TOAST pass for the values of a heap table's own TOAST table, or NULL when it has none. */
static ToastPass *
toast_pass_for(JScanState *s, Relation rel)
{
	double		rows = rel->rd_rel->reltuples;	/* -1 before the first ANALYZE */
	ToastPass  *tp;

	if (!OidIsValid(rel->rd_rel->reltoastrelid) || rel->rd_tableam != GetHeapamTableAmRoutine())
		return NULL;
	tp = palloc0(sizeof(ToastPass));
	/* room for every row the statistics expect, rather than growing by doubling */
	toast_entries_trim();
	toast_entries_reserve(tp, rows > 1024 ? (int64) Min(rows * 1.05 + 16, 64.0 * 1024 * 1024) : 1024);
	tp->toastrelid = rel->rd_rel->reltoastrelid;
	tp->payload = toast_payload(&s->q);
	return tp;
}

/*
 * The table itself under the caller's snapshot.  Values kept in the heap
 * are scanned at once; values moved out to TOAST are noted and assembled by
 * scan_toast.
 */
static void
scan_table(JScanState *s, Relation rel, AttrNumber attnum, AttrNumber idattnum,
		   Oid idtype, const char *idcol)
{
	bool		heap = rel->rd_tableam == GetHeapamTableAmRoutine();
	ToastPass  *tp = toast_pass_for(s, rel);

	if (!heap || !scan_heap_pages(s, rel, tp, attnum, idattnum, idtype, idcol))
		scan_table_slots(s, rel, tp, attnum, idattnum, idtype, idcol);
	toast_resolve(s, tp);
	toast_entries_trim();
}

/*
 * Through SPI: a filter predicate, row level security, views, partitioned
 * and foreign tables.  read_only = true runs the query under the caller's
 * snapshot (and refuses anything but a single SELECT).
 */
static void
scan_spi(JScanState *s, Relation rel, const char *colname, const char *idcol,
		 const char *filter)
{
	Oid			relid = RelationGetRelid(rel);
	StringInfoData sql;
	SPIPlanPtr	plan;
	Portal		portal;
	char	   *qualified;
	/* the rows' values of a plain table come from its own TOAST table: noted for the pass */
	ToastPass  *tp = rel->rd_rel->relkind == RELKIND_RELATION ? toast_pass_for(s, rel) : NULL;

	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										   get_rel_name(relid));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s, %s FROM %s",
					 idcol ? quote_identifier(idcol) : "ctid",
					 quote_identifier(colname), qualified);
	if (filter != NULL)
		appendStringInfo(&sql, " WHERE (%s\n)", filter);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "%s: SPI_connect failed", s->fn);
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: cannot prepare the scan \"%s\": %s",
						s->fn, sql.data, SPI_result_code_string(SPI_result))));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		i;
		TupleDesc	desc;
		Oid			idtype;

		SPI_cursor_fetch(portal, true, JITSON_CHUNK_ROWS);
		if (SPI_processed == 0)
			break;
		desc = SPI_tuptable->tupdesc;
		idtype = getBaseType(SPI_gettypeid(desc, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		v = SPI_getbinval(tup, desc, 2, &isnull);
			Datum		id;
			uint64		row;

			if (isnull)
				continue;
			id = SPI_getbinval(tup, desc, 1, &isnull);
			if (isnull)
				null_id_error(s, idcol ? idcol : "ctid");
			if (idcol != NULL)
				row = id_to_row(id_datum(id, idtype));
			else
			{
				ItemPointer tid = (ItemPointer) DatumGetPointer(id);

				row = ((uint64) ItemPointerGetBlockNumber(tid) << 16) |
					ItemPointerGetOffsetNumber(tid);
			}
			scan_value(s, tp, v, row);
		}
		SPI_freetuptable(SPI_tuptable);
		/* scan_add flushes whenever the chunk fills (cap <= the fetch size) */
		CHECK_FOR_INTERRUPTS();
	}
	scan_flush(s);
	SPI_cursor_close(portal);
	SPI_finish();
	/* under the caller's snapshot, which the read-only cursor used */
	toast_resolve(s, tp);
	toast_entries_trim();
}

/*
 * The columns of one hit: (id, distance) of a Hamming hit, (id, similarity,
 * intersection, union_bits) of a Tanimoto one.  Returns the column count.
 */
static int
hit_values(const jitson_hit *hit, int metric, int64 id, Datum *values)
{
	values[0] = Int64GetDatum(id);
	if (metric == JITSON_METRIC_TANIMOTO)
	{
		uint32		c,
					u;
		double		similarity;

		jitson_tanimoto_of(hit, &c, &u, &similarity);
		values[1] = Float8GetDatum(similarity);
		values[2] = Int32GetDatum((int32) c);
		values[3] = Int32GetDatum((int32) u);
		return 4;
	}
	values[1] = Int32GetDatum((int32) hit->distance);
	return 2;
}

/*
 * jitson_topk (metric Hamming) and jitson_topk_tanimoto: the same scan, the
 * hits' columns differ.  Hits come ordered by (distance, id), which for a
 * Tanimoto kernel is (similarity descending, id).
 */
static Datum
topk_common(FunctionCallInfo fcinfo, ValueKind kind, int metric)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *args[] = {"config", "query", "tbl", "col"};
	Oid			relid;
	char	   *relname;
	char	   *colname;
	char	   *idcol = NULL;
	char	   *filter = NULL;
	AttrNumber	attnum;
	AttrNumber	idattnum = InvalidAttrNumber;
	Oid			coltype;
	Oid			idtype = InvalidOid;
	CachedKernel *ck;
	JScanState	s;
	Relation	rel;
	bool		direct;
	jitson_hit *hits;
	int64		nhits;
	int64		i;
	char		err[JITSON_ERRLEN];
	int			a;
	const char *fn = metric_fn[metric][FN_TOPK];

	for (a = 0; a < 4; a++)
		if (PG_ARGISNULL(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s: argument %s is NULL; only id_col and filter may be NULL",
							fn, args[a])));
	relid = PG_GETARG_OID(2);
	colname = NameStr(*PG_GETARG_NAME(3));
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		idcol = NameStr(*PG_GETARG_NAME(4));
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		filter = text_to_cstring(PG_GETARG_TEXT_PP(5));

	InitMaterializedSRF(fcinfo, 0);

	memset(&s, 0, sizeof(s));
	s.fn = fn;
	query_init(&s.q, PG_GETARG_DATUM(1), kind, fn);
	ck = prepare_config(PG_GETARG_JSONB_P(0), (int64) s.q.rec_bytes * 8, false, metric, FN_TOPK);

	rel = table_open(relid, AccessShareLock);
	relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										 RelationGetRelationName(rel));
	s.relname = relname;
	s.colname = colname;
	s.ctid_ids = (idcol == NULL);
	attnum = user_column(fn, relid, relname, colname, &coltype);
	check_value_type(fn, coltype, kind, relname, colname);
	if (idcol != NULL)
	{
		idattnum = user_column(fn, relid, relname, idcol, &idtype);
		check_id_type(fn, idtype, relname, idcol);
		idtype = getBaseType(idtype);
	}

	/*
	 * Reading the heap directly skips the executor, so it must not skip what
	 * the executor enforces: privileges and row level security.  Anything
	 * but a plain table (or a filter) goes through SPI.
	 */
	direct = filter == NULL &&
		(rel->rd_rel->relkind == RELKIND_RELATION || rel->rd_rel->relkind == RELKIND_MATVIEW) &&
		check_enable_rls(relid, InvalidOid, false) != RLS_ENABLED;
	if (direct && pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		if (pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
			(idcol != NULL &&
			 pg_attribute_aclcheck(relid, idattnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
			aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
						   RelationGetRelationName(rel));
	}
	if (!direct && idcol == NULL && rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s is not a plain table, so its rows have no stable ctid; name an id column (id_col)",
						fn, relname)));

	/*
	 * The gather feed calls the kernel once per record.  A Hamming kernel is
	 * generated code whose call costs next to nothing; a Tanimoto kernel is
	 * the runtime interpreter (xbyak generates Hamming scans only), which
	 * sets up per call (the query's bits per cascade stage), so its in-line
	 * values are copied into the chunk and scanned 1,024 at a time instead:
	 * 200,000 bit(2048) rows at 4 % density, top-10, about 60 against 90 to
	 * 120 ms on the 2-core Zen 4 VM.
	 */
	s.gather = metric == JITSON_METRIC_HAMMING;
	s.holder = acc_holder_create(CurrentMemoryContext, ck->kernel, s.q.padded);
	scan_buffers(&s);

	if (direct)
		scan_table(&s, rel, attnum, idattnum, idtype, idcol);
	else
		scan_spi(&s, rel, colname, idcol, filter);
	table_close(rel, AccessShareLock);

	hits = palloc(sizeof(jitson_hit) * Max(ck->top_k, 1));
	nhits = jitson_topk_result(s.holder->acc, 0, hits, Max(ck->top_k, 1), NULL, err, sizeof(err));
	if (nhits < 0)
		library_failed(s.fn, err);
	acc_holder_release(s.holder);
	MemoryContextDelete(s.tmpctx);

	for (i = 0; i < nhits; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		hit_values(&hits[i], metric,
				   s.ctid_ids ? (int64) hits[i].index : row_to_id(hits[i].index), values);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
jitson_topk_bits(PG_FUNCTION_ARGS)
{
	return topk_common(fcinfo, KIND_BITS, JITSON_METRIC_HAMMING);
}

Datum
jitson_topk_bytes(PG_FUNCTION_ARGS)
{
	return topk_common(fcinfo, KIND_BYTES, JITSON_METRIC_HAMMING);
}

Datum
jitson_topk_tanimoto_bits(PG_FUNCTION_ARGS)
{
	return topk_common(fcinfo, KIND_BITS, JITSON_METRIC_TANIMOTO);
}

Datum
jitson_topk_tanimoto_bytes(PG_FUNCTION_ARGS)
{
	return topk_common(fcinfo, KIND_BYTES, JITSON_METRIC_TANIMOTO);
}

/* ---------------------------------------------------------------------
 * jitson_compile(config), jitson_explain(config), jitson_version()
 * ---------------------------------------------------------------------
 */

Datum
jitson_compile_sql(PG_FUNCTION_ARGS)
{
	CachedKernel *ck = prepare_config(PG_GETARG_JSONB_P(0), 0, false, METRIC_ANY, FN_TOPK);

	PG_RETURN_TEXT_P(cstring_to_text(jitson_kernel_describe(ck->kernel)));
}

Datum
jitson_explain_sql(PG_FUNCTION_ARGS)
{
	CachedKernel *ck = prepare_config(PG_GETARG_JSONB_P(0), 0, false, METRIC_ANY, FN_TOPK);

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("config: %s\nkernel: %s\nlibjitson: %s\nthreads: 1 (the backend's own)",
											  ck->text, jitson_kernel_describe(ck->kernel),
											  jitson_version())));
}

Datum
jitson_version_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(jitson_version()));
}

/* ---------------------------------------------------------------------
 * jitson_topk_agg(value, query, config, id): an aggregate the planner can
 * run in parallel workers and per GROUP BY group.  Partial states travel
 * between processes as their hit lists; a combined state keeps the best
 * top_k hits of both sides, which is exact because every partial list is the
 * exact top_k of its own rows.  jitson_topk_tanimoto_agg is the same
 * aggregate for Tanimoto configs (its own transition and final functions,
 * the combine, serialize and deserialize functions shared): a Tanimoto hit's
 * rank orders like a distance and its union rides in jitson_hit.reserved.
 * ---------------------------------------------------------------------
 */

typedef struct JAggState
{
	MemoryContext ctx;
	int			metric;			/* JITSON_METRIC_*: which aggregate this is */
	QueryInfo	q;
	char	   *config;			/* canonical text: identifies the kernel */
	size_t		config_len;
	int64		top_k;
	AccHolder  *holder;			/* NULL for a state made from a hit list */
	uint8	   *chunk;
	uint64	   *rows;
	int			n;
	int			cap;			/* grows to chunk_rows(): small groups stay small */
	jitson_hit *extra;			/* hits from other states, sorted, <= top_k */
	int64		n_extra;
	ToastPass  *toast;			/* TOASTed values not read yet (agg_defer), or NULL */
	Pointer		last_query;		/* the query and config Datums seen last: */
	Pointer		last_config;	/* the same pointer means the same value */
} JAggState;

#define AGG_MAGIC 0x334b544a	/* "JTK3" */

static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext ctx;

	if (!AggCheckCallContext(fcinfo, &ctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s may only be called as part of a jitson aggregate (jitson_topk_agg, jitson_topk_pairs, jitson_topk_tanimoto_agg)", fn)));
	return ctx;
}

/* The state's accumulator, made at its first use. */
static AccHolder *
agg_holder(JAggState *st)
{
	if (st->holder == NULL)
	{
		CachedKernel *ck = NULL;
		int			i;

		for (i = 0; i < JITSON_KERNEL_CACHE && ck == NULL; i++)
			if (kernel_cache[i].kernel != NULL && kernel_cache[i].len == st->config_len &&
				memcmp(kernel_cache[i].text, st->config, st->config_len) == 0)
				ck = &kernel_cache[i];
		if (ck == NULL)
			ck = prepare_config(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																   CStringGetDatum(st->config))),
								0, false, st->metric, FN_AGG);
		st->holder = acc_holder_create(st->ctx, ck->kernel, st->q.padded);
	}
	return st->holder;
}

static void
agg_flush(JAggState *st)
{
	char		err[JITSON_ERRLEN];

	if (st->n == 0)
		return;
	if (jitson_topk_feed(agg_holder(st)->acc, st->chunk, st->n, st->rows, 0, NULL,
						 err, sizeof(err)) != 0)
		library_failed(metric_fn[st->metric][FN_AGG], err);
	st->n = 0;
	CHECK_FOR_INTERRUPTS();
}

/*
 * The deferred TOASTed values, read now: by the TOAST pass when there are
 * enough of them (toast_resolve), under the snapshot of the query that runs
 * the aggregate, as jitson_topk reads a table's.  A value whose chunks that
 * snapshot does not show (a row read under another snapshot) is detoasted
 * the ordinary way, as it would have been without deferring.
 */
static void
agg_resolve(JAggState *st)
{
	JScanState	s;

	if (st->toast == NULL || st->toast->nentries == 0)
		return;
	memset(&s, 0, sizeof(s));
	s.q = st->q;
	s.holder = agg_holder(st);
	s.fn = metric_fn[st->metric][FN_AGG];
	s.relname = NULL;			/* rows are the aggregate's ids */
	scan_buffers(&s);
	toast_resolve(&s, st->toast);
	MemoryContextDelete(s.tmpctx);
	pfree(s.rows);
	pfree(s.chunk);
}

/* Every row the state took, fed to its accumulator. */
static void
agg_settle(JAggState *st)
{
	agg_resolve(st);
	agg_flush(st);
}

/* The state's deferred values of TOAST table toastrelid, reading those of another first. */
static ToastPass *
agg_toast(JAggState *st, Oid toastrelid)
{
	ToastPass  *tp = st->toast;

	if (tp == NULL)
	{
		tp = st->toast = MemoryContextAllocZero(st->ctx, sizeof(ToastPass));
		tp->ctx = st->ctx;
		tp->payload = toast_payload(&st->q);
	}
	if (toastrelid != tp->toastrelid)
	{
		/* values of another table (a join, a UNION): one TOAST table per pass */
		agg_resolve(st);
		tp->toastrelid = toastrelid;
	}
	return tp;
}

/* Reads the deferred values once they fill the memory a hash aggregate may use. */
static void
agg_toast_limit(JAggState *st)
{
	if ((size_t) st->toast->nentries >= Max(get_hash_memory_limit() / sizeof(ToastEntry), 1024))
		agg_resolve(st);
}

/*
 * Instead of detoasting a TOASTed value row by row (a TOAST index lookup
 * each: 374 ms for 200,000 bit(16384) values against jitson_topk's 34 ms on
 * Zen 5), the transition notes it and agg_resolve reads the noted values
 * together, at the end or when they fill the memory a hash aggregate may
 * use (work_mem * hash_mem_multiplier; 24 bytes a value).  Returns false
 * for a value it does not take (in line, compressed, of another length, or
 * no snapshot to read it under later), which the caller reads now.
 */
static bool
agg_defer(JAggState *st, Datum value, uint64 row)
{
	struct varatt_external ext;

	if (!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)) || !ActiveSnapshotSet())
		return false;
	VARATT_EXTERNAL_GET_POINTER(ext, DatumGetPointer(value));
	if (!toast_note(agg_toast(st, ext.va_toastrelid), value, row))
		return false;
	agg_toast_limit(st);
	return true;
}

/*
 * Deferred values travel with a partial state (parallel workers) and join
 * the combined one, so that the final function reads them all in one TOAST
 * pass rather than every participant reading the whole TOAST table.
 */
static void
agg_defer_entries(JAggState *st, Oid toastrelid, const void *entries, int64 n)
{
	ToastPass  *tp;
	int64		i;

	if (n == 0)
		return;
	tp = agg_toast(st, toastrelid);
	while (tp->capacity < tp->nentries + n)
		toast_entries_grow(tp);
	/* memcpy: entries may come unaligned from a serialized state */
	memcpy(tp->entries + tp->nentries, entries, sizeof(ToastEntry) * n);
	for (i = tp->nentries; i < tp->nentries + n; i++)
	{
		tp->entries[i].slot = TOAST_NEW;
		tp->entries[i].missing = 0;
	}
	tp->nentries += n;
	agg_toast_limit(st);
}

static void
agg_keep_best(JAggState *st)
{
	if (st->n_extra > 1)
		qsort(st->extra, st->n_extra, sizeof(jitson_hit), hit_cmp);
	if (st->n_extra > st->top_k)
		st->n_extra = st->top_k;
}

/*
 * Every hit of the rows the state has read, best first, at most top_k;
 * palloc'd in the current context.  Deferred values are not read here:
 * agg_settle first for the state's whole answer.
 */
static jitson_hit *
agg_hits(JAggState *st, int64 *n)
{
	jitson_hit *hits;
	int64		got = 0;
	char		err[JITSON_ERRLEN];

	agg_flush(st);
	hits = palloc(sizeof(jitson_hit) * (Max(st->top_k, 1) + st->n_extra));
	if (st->holder != NULL)
	{
		got = jitson_topk_result(st->holder->acc, 0, hits, st->top_k, NULL, err, sizeof(err));
		if (got < 0)
			library_failed(metric_fn[st->metric][FN_AGG], err);
	}
	if (st->n_extra > 0)
		memcpy(hits + got, st->extra, sizeof(jitson_hit) * st->n_extra);
	got += st->n_extra;
	qsort(hits, got, sizeof(jitson_hit), hit_cmp);
	*n = Min(got, st->top_k);
	return hits;
}

static JAggState *
agg_new(MemoryContext ctx, int metric, const QueryInfo *q, const char *config,
		size_t config_len, int64 top_k)
{
	JAggState   *st = MemoryContextAllocZero(ctx, sizeof(JAggState));

	st->ctx = ctx;
	st->metric = metric;
	st->q = *q;
	st->q.padded = MemoryContextAlloc(ctx, q->rec_bytes);
	memcpy(st->q.padded, q->padded, q->rec_bytes);
	st->config = MemoryContextAlloc(ctx, config_len + 1);
	memcpy(st->config, config, config_len);
	st->config[config_len] = '\0';
	st->config_len = config_len;
	st->top_k = Max(top_k, 1);
	return st;
}

static void
agg_check_same(JAggState *a, const QueryInfo *q, const char *config, size_t config_len)
{
	if (a->config_len != config_len || memcmp(a->config, config, config_len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the config changed between rows (%s, then %s); one aggregate takes one config",
						metric_fn[a->metric][FN_AGG], a->config, config)));
	if (a->q.kind != q->kind || a->q.nbits != q->nbits ||
		memcmp(a->q.padded, q->padded, q->rec_bytes) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the query changed between rows; one aggregate takes one query (compute it once, e.g. in a CTE)",
						metric_fn[a->metric][FN_AGG])));
}

static Datum
agg_trans(FunctionCallInfo fcinfo, ValueKind kind, int metric)
{
	const char *fn = metric_fn[metric][FN_AGG];
	MemoryContext ctx = agg_context(fcinfo, metric == JITSON_METRIC_TANIMOTO ?
									"jitson_topk_tanimoto_agg_trans" : "jitson_topk_agg_trans");
	JAggState   *st = PG_ARGISNULL(0) ? NULL : (JAggState *) PG_GETARG_POINTER(0);
	MemoryContext old;
	struct varlena *v;
	const uint8 *data;
	int32		nbytes;
	int64		nbits;
	uint8	   *dst;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: the %s is NULL; the query and the config must not be NULL",
						fn, PG_ARGISNULL(2) ? "query" : "config")));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);	/* a NULL value is no candidate */
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: a row has a NULL id; ids must not be NULL", fn)));

	/*
	 * The query and config arrive with every row.  Usually they are the same
	 * Datum each time (a constant or a parameter): then they are looked at
	 * once; otherwise they must equal the first row's.
	 */
	if (st == NULL || DatumGetPointer(PG_GETARG_DATUM(2)) != st->last_query ||
		DatumGetPointer(PG_GETARG_DATUM(3)) != st->last_config)
	{
		QueryInfo	q;
		CachedKernel *ck;

		query_init(&q, PG_GETARG_DATUM(2), kind, fn);
		ck = prepare_config(PG_GETARG_JSONB_P(3), (int64) q.rec_bytes * 8, false, metric, FN_AGG);
		if (st == NULL)
			st = agg_new(ctx, metric, &q, ck->text, ck->len, ck->top_k);
		else
			agg_check_same(st, &q, ck->text, ck->len);
		st->last_query = DatumGetPointer(PG_GETARG_DATUM(2));
		st->last_config = DatumGetPointer(PG_GETARG_DATUM(3));
	}

	if (agg_defer(st, PG_GETARG_DATUM(1), id_to_row(PG_GETARG_INT64(4))))
		PG_RETURN_POINTER(st);
	v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(PG_GETARG_DATUM(1)));
	nbits = value_bits(v, kind, &data, &nbytes);
	if (nbits != st->q.nbits)
		agg_length_error(fn, PG_GETARG_INT64(4), kind, nbits, st->q.nbits);

	/*
	 * A value in line, in its page: a sequential scan hands a page's tuples
	 * in line pointer order, which stores them from the page's end down, so
	 * the next row's value most likely lies just below this one.  Asking for
	 * its lines now overlaps their misses with this row's copy (a prefetch
	 * never faults; a wrong guess costs a few useless lines).  Zen 5, 200,000
	 * PLAIN bit(16384) values, one core, builds alternated 3 times: 92-96 ->
	 * 76-80 ms.
	 */
	if ((Pointer) v == DatumGetPointer(PG_GETARG_DATUM(1)))
	{
		/* an address, not a pointer into the value: computed as an integer */
		uintptr_t	below = (uintptr_t) data - (uintptr_t) (nbytes + 64);

		for (int32 at = 0; at < nbytes + 64; at += 64)
			__builtin_prefetch((const void *) (below + at), 0, 3);
	}
	if (st->n == st->cap)
	{
		if (st->cap >= chunk_rows(st->q.rec_bytes))
			agg_flush(st);
		else
		{
			int			cap = st->cap == 0 ? 8 : st->cap * 2;

			old = MemoryContextSwitchTo(ctx);
			st->chunk = st->chunk ? repalloc(st->chunk, (size_t) cap * st->q.rec_bytes)
				: palloc((size_t) cap * st->q.rec_bytes);
			st->rows = st->rows ? repalloc(st->rows, sizeof(uint64) * cap)
				: palloc(sizeof(uint64) * cap);
			MemoryContextSwitchTo(old);
			st->cap = cap;
		}
	}
	dst = st->chunk + (size_t) st->n * st->q.rec_bytes;
	memcpy(dst, data, nbytes);
	if (nbytes < st->q.rec_bytes)
		memset(dst + nbytes, 0, st->q.rec_bytes - nbytes);
	st->rows[st->n++] = id_to_row(PG_GETARG_INT64(4));
	if ((Pointer) v != DatumGetPointer(PG_GETARG_DATUM(1)))
		pfree(v);
	PG_RETURN_POINTER(st);
}

Datum
jitson_topk_agg_trans_bits(PG_FUNCTION_ARGS)
{
	return agg_trans(fcinfo, KIND_BITS, JITSON_METRIC_HAMMING);
}

Datum
jitson_topk_agg_trans_bytes(PG_FUNCTION_ARGS)
{
	return agg_trans(fcinfo, KIND_BYTES, JITSON_METRIC_HAMMING);
}

Datum
jitson_topk_tanimoto_agg_trans_bits(PG_FUNCTION_ARGS)
{
	return agg_trans(fcinfo, KIND_BITS, JITSON_METRIC_TANIMOTO);
}

Datum
jitson_topk_tanimoto_agg_trans_bytes(PG_FUNCTION_ARGS)
{
	return agg_trans(fcinfo, KIND_BYTES, JITSON_METRIC_TANIMOTO);
}

Datum
jitson_topk_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = agg_context(fcinfo, "jitson_topk_agg_combine");
	JAggState   *a = PG_ARGISNULL(0) ? NULL : (JAggState *) PG_GETARG_POINTER(0);
	JAggState   *b = PG_ARGISNULL(1) ? NULL : (JAggState *) PG_GETARG_POINTER(1);
	jitson_hit *hits;
	int64		n;
	MemoryContext old;

	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = agg_new(ctx, b->metric, &b->q, b->config, b->config_len, b->top_k);
	else
		agg_check_same(a, &b->q, b->config, b->config_len);

	if (b->toast != NULL)
	{
		agg_defer_entries(a, b->toast->toastrelid, b->toast->entries, b->toast->nentries);
		b->toast->nentries = 0;
	}
	agg_flush(b);
	if (a->holder != NULL && b->holder != NULL)
	{
		char		err[JITSON_ERRLEN];

		agg_flush(a);
		if (jitson_topk_merge(a->holder->acc, b->holder->acc, err, sizeof(err)) != 0)
			library_failed(metric_fn[a->metric][FN_AGG], err);
		if (b->n_extra == 0)
			PG_RETURN_POINTER(a);
		hits = b->extra;
		n = b->n_extra;
	}
	else
		hits = agg_hits(b, &n);

	old = MemoryContextSwitchTo(ctx);
	a->extra = a->extra ? repalloc(a->extra, sizeof(jitson_hit) * (a->n_extra + n))
		: palloc(sizeof(jitson_hit) * Max(n, 1));
	MemoryContextSwitchTo(old);
	memcpy(a->extra + a->n_extra, hits, sizeof(jitson_hit) * n);
	a->n_extra += n;
	agg_keep_best(a);
	PG_RETURN_POINTER(a);
}

typedef struct AggWire
{
	int32		magic;
	int32		kind;
	int64		nbits;
	int32		nbytes;
	int32		rec_bytes;
	int64		top_k;
	int64		config_len;
	int64		n_hits;
	int32		metric;
	Oid			toastrelid;		/* of the deferred values */
	int64		n_deferred;		/* ToastEntry records after the hits */
} AggWire;

Datum
jitson_topk_agg_serialize(PG_FUNCTION_ARGS)
{
	JAggState   *st = (JAggState *) PG_GETARG_POINTER(0);
	AggWire		w;
	jitson_hit *hits;
	int64		n;
	bytea	   *out;
	char	   *p;
	Size		size;

	agg_context(fcinfo, "jitson_topk_agg_serialize");
	hits = agg_hits(st, &n);	/* the deferred values travel unread (agg_defer_entries) */
	memset(&w, 0, sizeof(w));
	w.magic = AGG_MAGIC;
	w.metric = st->metric;
	w.kind = st->q.kind;
	w.nbits = st->q.nbits;
	w.nbytes = st->q.nbytes;
	w.rec_bytes = st->q.rec_bytes;
	w.top_k = st->top_k;
	w.config_len = st->config_len;
	w.n_hits = n;
	if (st->toast != NULL)
	{
		w.toastrelid = st->toast->toastrelid;
		w.n_deferred = st->toast->nentries;
	}
	size = VARHDRSZ + sizeof(w) + st->config_len + st->q.rec_bytes + sizeof(jitson_hit) * n +
		sizeof(ToastEntry) * w.n_deferred;
	out = palloc(size);
	SET_VARSIZE(out, size);
	p = VARDATA(out);
	memcpy(p, &w, sizeof(w));
	p += sizeof(w);
	memcpy(p, st->config, st->config_len);
	p += st->config_len;
	memcpy(p, st->q.padded, st->q.rec_bytes);
	p += st->q.rec_bytes;
	memcpy(p, hits, sizeof(jitson_hit) * n);
	p += sizeof(jitson_hit) * n;
	if (w.n_deferred > 0)
		memcpy(p, st->toast->entries, sizeof(ToastEntry) * w.n_deferred);
	PG_RETURN_BYTEA_P(out);
}

Datum
jitson_topk_agg_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = agg_context(fcinfo, "jitson_topk_agg_deserialize");
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		size = VARSIZE_ANY_EXHDR(in);
	AggWire		w;
	QueryInfo	q;
	JAggState   *st;

	if (size < sizeof(w))
		elog(ERROR, "jitson_topk_agg: truncated partial state");
	memcpy(&w, p, sizeof(w));
	if (w.magic != AGG_MAGIC || w.rec_bytes <= 0 || w.config_len < 0 || w.n_hits < 0 ||
		w.config_len > (int64) size || w.rec_bytes > (int64) size ||
		w.n_hits > (int64) (size / sizeof(jitson_hit)) ||
		w.n_deferred > (int64) (size / sizeof(ToastEntry)) || w.n_deferred < 0 ||
		(w.n_deferred > 0 && !OidIsValid(w.toastrelid)) ||
		(w.metric != JITSON_METRIC_HAMMING && w.metric != JITSON_METRIC_TANIMOTO) ||
		size != sizeof(w) + w.config_len + w.rec_bytes + sizeof(jitson_hit) * w.n_hits +
		sizeof(ToastEntry) * w.n_deferred)
		elog(ERROR, "jitson_topk_agg: malformed partial state");
	p += sizeof(w);
	q.kind = (ValueKind) w.kind;
	q.nbits = w.nbits;
	q.nbytes = w.nbytes;
	q.rec_bytes = w.rec_bytes;
	q.padded = (uint8 *) p + w.config_len;
	{
		char	   *config = pnstrdup(p, w.config_len);

		st = agg_new(ctx, w.metric, &q, config, w.config_len, w.top_k);
	}
	p += w.config_len + w.rec_bytes;
	st->extra = MemoryContextAlloc(ctx, sizeof(jitson_hit) * Max(w.n_hits, 1));
	memcpy(st->extra, p, sizeof(jitson_hit) * w.n_hits);
	st->n_extra = w.n_hits;
	p += sizeof(jitson_hit) * w.n_hits;
	agg_defer_entries(st, w.toastrelid, p, w.n_deferred);
	PG_RETURN_POINTER(st);
}

/* The hits as an array of the final function's row type (jitson_hit or jitson_tanimoto_hit). */
static Datum
agg_final_common(FunctionCallInfo fcinfo, int metric)
{
	JAggState   *st = PG_ARGISNULL(0) ? NULL : (JAggState *) PG_GETARG_POINTER(0);
	Oid			arraytype = get_func_rettype(fcinfo->flinfo->fn_oid);
	Oid			elemtype = get_element_type(arraytype);
	TupleDesc	desc;
	jitson_hit *hits = NULL;
	int64		n = 0;
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int64		i;

	agg_context(fcinfo, metric == JITSON_METRIC_TANIMOTO ?
				"jitson_topk_tanimoto_agg_final" : "jitson_topk_agg_final");
	if (st != NULL)
	{
		Assert(st->metric == metric);
		agg_settle(st);
		hits = agg_hits(st, &n);
	}
	desc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(elemtype, -1));
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		hit_values(&hits[i], metric, row_to_id(hits[i].index), values);
		elems[i] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, (int) n, elemtype, typlen, typbyval, typalign));
}

Datum
jitson_topk_agg_final(PG_FUNCTION_ARGS)
{
	return agg_final_common(fcinfo, JITSON_METRIC_HAMMING);
}

Datum
jitson_topk_tanimoto_agg_final(PG_FUNCTION_ARGS)
{
	return agg_final_common(fcinfo, JITSON_METRIC_TANIMOTO);
}

/*
 * The same hits as a two-dimensional bigint array, {{id, distance}, ...}.
 * postgres_fdw ships an aggregate to a shard only when its result type is
 * built in or belongs to a listed extension; jitson_hit[] (an array type
 * made implicitly) is neither, bigint[] is built in.
 */
Datum
jitson_topk_agg_final_pairs(PG_FUNCTION_ARGS)
{
	JAggState  *st = PG_ARGISNULL(0) ? NULL : (JAggState *) PG_GETARG_POINTER(0);
	jitson_hit *hits = NULL;
	int64		n = 0;
	Datum	   *elems;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int64		i;

	agg_context(fcinfo, "jitson_topk_agg_final_pairs");
	if (st != NULL)
	{
		agg_settle(st);
		hits = agg_hits(st, &n);
	}
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	elems = palloc(sizeof(Datum) * 2 * n);
	for (i = 0; i < n; i++)
	{
		elems[2 * i] = Int64GetDatum(row_to_id(hits[i].index));
		elems[2 * i + 1] = Int64GetDatum((int64) hits[i].distance);
	}
	dims[0] = (int) n;
	dims[1] = 2;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, INT8OID, 8,
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
